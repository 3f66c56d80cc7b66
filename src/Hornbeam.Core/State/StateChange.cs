namespace Hornbeam.State;

/// <summary>
/// One change of a watched key, or a gap. <see cref="Id"/> is the feed's position after it: pass it back to resume.
/// </summary>
/// <param name="Op"><see cref="Set"/>, <see cref="Delete"/>, <see cref="Increment"/>, <see cref="Expire"/> or <see cref="Gap"/>.</param>
/// <param name="Key">The state key; empty for a gap.</param>
/// <param name="Value">The value's JSON after the change (the new counter value for an increment); null otherwise.</param>
/// <param name="Delta">What an increment added: increments of one counter that reached Redis together are one change.</param>
/// <param name="Version">The change's id in its key's stream, ordered per key (Redis stream id, <c>ms-seq</c>).</param>
/// <param name="Id">The feed's position after this change.</param>
/// <param name="Reason">Why a gap happened.</param>
/// <param name="ETag">The value's ETag after a set or increment (quoted, as GET answers it); null otherwise.</param>
public sealed record StateChange(
    string Op, string Key, byte[]? Value, long? Delta, string? Version, string Id, string? Reason = null, string? ETag = null)
{
    /// <summary>The key was set.</summary>
    public const string Set = "set";

    /// <summary>The key was deleted (deleting an absent key changes nothing and records nothing).</summary>
    public const string Delete = "delete";

    /// <summary>The counter was incremented (or decremented).</summary>
    public const string Increment = "incr";

    /// <summary>
    /// The key's lifetime ran out. Recorded when the expiry sweep (or a listing) finds it gone, so up to the sweep's
    /// interval after Redis dropped it; a key set again before that has no such change.
    /// </summary>
    public const string Expire = "expire";

    /// <summary>
    /// Changes were lost to this feed (trimmed, never recorded, or the id is unknown): re-read the state, then go on; the
    /// feed continues from now.
    /// </summary>
    public const string Gap = "gap";
}
