namespace Hornbeam.Api.State;

/// <summary>What one operation left.</summary>
public sealed record StateTransactionResult(string Key, string? Etag, long? Value);
