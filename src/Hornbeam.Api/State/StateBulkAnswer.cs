namespace Hornbeam.Api.State;

/// <summary>One key's answer.</summary>
public sealed record StateBulkAnswer(string? Etag, Microsoft.AspNetCore.Mvc.ProblemDetails? Error);
