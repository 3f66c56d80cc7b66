namespace Hornbeam.Api.State;

/// <summary>One result per operation, in order: the key's new <c>etag</c> (not after a delete) and an incr's new <c>value</c>.</summary>
public sealed record StateTransactionResults(IReadOnlyList<StateTransactionResult> Results);
