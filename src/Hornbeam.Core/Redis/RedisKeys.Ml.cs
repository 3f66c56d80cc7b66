using StackExchange.Redis;

namespace Hornbeam.Redis;

// Inference cache: everything of one cache prefix shares the hash tag {ml:<cache prefix>}, so an entry, its lock,
// the prefix's index and its counters live in one Redis Cluster slot and one script can touch them together.
public sealed partial class RedisKeys
{
    /// <summary>The cached result (JSON) of <paramref name="cacheKey"/> under <paramref name="cachePrefix"/>.</summary>
    public RedisKey MlEntry(string cachePrefix, string cacheKey) => $"{Prefix}{{ml:{cachePrefix}}}:entry:{cacheKey}";

    /// <summary>The short-lived claim of the one caller computing <paramref name="cacheKey"/>.</summary>
    public RedisKey MlLock(string cachePrefix, string cacheKey) => $"{Prefix}{{ml:{cachePrefix}}}:lock:{cacheKey}";

    /// <summary>The channel that wakes callers waiting for <paramref name="cacheKey"/> to be computed.</summary>
    public RedisChannel MlDone(string cachePrefix, string cacheKey) =>
        RedisChannel.Literal($"{Prefix}{{ml:{cachePrefix}}}:done:{cacheKey}");

    /// <summary>The sorted set of a prefix's cache keys, scored by expiry (ms since the epoch, +inf for none), for clearing.</summary>
    public RedisKey MlIndex(string cachePrefix) => $"{Prefix}{{ml:{cachePrefix}}}:index";

    /// <summary>The hash of a prefix's <c>hits</c> and <c>misses</c> counters.</summary>
    public RedisKey MlStats(string cachePrefix) => $"{Prefix}{{ml:{cachePrefix}}}:stats";

    /// <summary>The set of cache prefixes that have counted a miss, so stats can find every prefix without SCAN.</summary>
    public RedisKey MlPrefixes => $"{Prefix}{{ml}}:prefixes";
}
