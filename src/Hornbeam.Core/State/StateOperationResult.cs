namespace Hornbeam.State;

/// <summary>What one operation of a transaction left.</summary>
/// <param name="Key">The state key.</param>
/// <param name="ETag">The key's new ETag; null after a delete.</param>
/// <param name="Value">An increment's new value; null for a set or delete.</param>
public sealed record StateOperationResult(string Key, string? ETag, long? Value);
