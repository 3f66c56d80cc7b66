namespace Hornbeam.Bench;

/// <summary>One contender's request in a row: what wrk sends (bench/lib/request.lua reads it from the environment).</summary>
/// <param name="Body">A file whose bytes go as the body, as application/json; none when null.</param>
/// <param name="Header">One more header, "Name: value" (Hornbeam's API key); none when null.</param>
internal sealed record Spec(string Method, string Url, string? Body = null, string? Header = null);
