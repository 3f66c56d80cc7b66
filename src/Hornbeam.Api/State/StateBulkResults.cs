namespace Hornbeam.Api.State;

/// <summary>Each key's answer: its new <c>etag</c>, or the <c>error</c> (a ProblemDetails) that kept it from being set.</summary>
public sealed record StateBulkResults(Dictionary<string, StateBulkAnswer> Results);
