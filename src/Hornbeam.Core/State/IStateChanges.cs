namespace Hornbeam.State;

/// <summary>
/// The state change feed: every set, delete, increment and expiry of a key under a prefix, from any replica, in order per key.
/// Writes are recorded only while someone watches a prefix covering them, so an unwatched key costs nothing more to write.
/// </summary>
public interface IStateChanges
{
    /// <summary>
    /// Starts watching <paramref name="prefix"/> (not empty): the feed answers changes made after this call, or, given
    /// <paramref name="after"/> (the <see cref="StateChange.Id"/> of a change or gap of an earlier feed, or its
    /// <see cref="StateChangeFeed.StartsAfter"/>), those made after that one, as far as retention reaches back; where it does
    /// not, a <see cref="StateChange.Gap"/> comes first. Throws <see cref="HornbeamError.InvalidInput"/> for an empty or
    /// oversized prefix or an <paramref name="after"/> this service did not write.
    /// </summary>
    Task<StateChangeFeed> WatchAsync(string prefix, string? after = null, CancellationToken cancellationToken = default);
}
