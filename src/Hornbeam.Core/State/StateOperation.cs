namespace Hornbeam.State;

/// <summary>
/// One operation of <see cref="IStateStore.TransactAsync"/>; build it with <see cref="Set"/>, <see cref="Delete"/> or
/// <see cref="Increment"/>.
/// </summary>
/// <param name="Kind">What it does.</param>
/// <param name="Key">The state key.</param>
/// <param name="Json">A set's value (UTF-8 JSON).</param>
/// <param name="Delta">An increment's delta.</param>
/// <param name="IfMatch">
/// Apply the transaction only if the key's ETag, as the operations before this one left it, is one of these (quoted ETags,
/// or <c>*</c> for any stored value).
/// </param>
/// <param name="TimeToLive">A set's lifetime, or an increment's when it creates the counter.</param>
public sealed record StateOperation(StateOperationKind Kind, string Key, ReadOnlyMemory<byte> Json = default, long Delta = 0,
    string? IfMatch = null, TimeSpan? TimeToLive = null)
{
    /// <summary>A set of <paramref name="json"/>.</summary>
    public static StateOperation Set(string key, ReadOnlyMemory<byte> json, string? ifMatch = null, TimeSpan? timeToLive = null) =>
        new(StateOperationKind.Set, key, json, IfMatch: ifMatch, TimeToLive: timeToLive);

    /// <summary>A delete.</summary>
    public static StateOperation Delete(string key, string? ifMatch = null) => new(StateOperationKind.Delete, key, IfMatch: ifMatch);

    /// <summary>An increment by <paramref name="delta"/>.</summary>
    public static StateOperation Increment(string key, long delta = 1, string? ifMatch = null, TimeSpan? timeToLive = null) =>
        new(StateOperationKind.Increment, key, Delta: delta, IfMatch: ifMatch, TimeToLive: timeToLive);
}
