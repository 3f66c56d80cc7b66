namespace Hornbeam.Redis;

// Inference cache. Every script's keys share the prefix's hash tag {ml:<cache prefix>}.
internal static partial class RedisScripts
{
    // Looking up and claiming the computation in one step means two callers can never both see a miss and both compute.
    // KEYS: entry, lock, stats. ARGV: lock token, lock ms. Answers {1, json} on a hit, {2} when claimed, {0} when another holds the claim.
    public const string MlLookupOrClaim = """
        local v = redis.call('GET', KEYS[1])
        if v then redis.call('HINCRBY', KEYS[3], 'hits', 1) return {1, v} end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then redis.call('HINCRBY', KEYS[3], 'misses', 1) return {2} end
        return {0}
        """;

    // The entry, its index member and the release of the claim change together, so no waiter sees the claim gone before the entry exists
    // and clearing never misses an entry. KEYS: entry, index, lock. ARGV: json, ttl ms (0 = keep), expiry score, cache key, prune-before
    // score, lock token ('' = none). Answers 1 when it released the caller's claim, 0 when the claim was not (or no longer) theirs.
    public const string MlStore = """
        if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1]) end
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
        local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5], 'LIMIT', 0, 100)
        for i = 1, #expired do redis.call('ZREM', KEYS[2], expired[i]) end
        if ARGV[6] ~= '' and redis.call('GET', KEYS[3]) == ARGV[6] then redis.call('DEL', KEYS[3]) return 1 end
        return 0
        """;

    // Compare-and-delete: a claim that expired and was taken by another caller must stay theirs. KEYS: lock. ARGV: token.
    public const string MlRelease = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

    // Entries and their index members leave together, and DEL's count says how many entries still existed.
    // KEYS: index, then the entries. ARGV: the cache keys of those entries.
    public const string MlClearBatch = """
        local n = 0
        for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
        for i = 1, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
        return n
        """;
}
