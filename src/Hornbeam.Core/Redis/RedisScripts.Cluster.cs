namespace Hornbeam.Redis;

/// <summary>Presence (KEYS[1] the node set, KEYS[2] the info hash) and the RPC request send (KEYS[1] the target's stream).</summary>
internal static partial class RedisScripts
{
    // Renewing this node, pruning expired ones and reading who is live is one step, so the set and the hash never disagree.
    // ARGV: node, expiry ms, info JSON, now ms. Answers {pruned names, {name, expiry, info, ...}}.
    public const string ClusterHeartbeat = """
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
        local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
        for _, n in ipairs(dead) do
          redis.call('ZREM', KEYS[1], n)
          redis.call('HDEL', KEYS[2], n)
        end
        local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
        local out = {}
        for i = 1, #live, 2 do
          out[#out + 1] = live[i]
          out[#out + 1] = live[i + 1]
          out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or ''
        end
        return {dead, out}
        """;

    // The live set and the info of its members are read as one snapshot. ARGV: now ms. Answers {name, expiry, info, ...}.
    public const string ClusterLiveNodes = """
        local live = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES')
        local out = {}
        for i = 1, #live, 2 do
          out[#out + 1] = live[i]
          out[#out + 1] = live[i + 1]
          out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or ''
        end
        return out
        """;

    // Leaving removes the node from both structures together. ARGV: node.
    public const string ClusterLeave = "redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('HDEL', KEYS[2], ARGV[1]) return 1";

    // The request and its doorbell go out in one round trip. ARGV: max length, doorbell channel, then the entry's fields.
    public const string RpcSend = """
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
          'id', ARGV[3], 'kind', ARGV[4], 'from', ARGV[5], 'reply_to', ARGV[6],
          'module', ARGV[7], 'function', ARGV[8], 'args', ARGV[9], 'deadline', ARGV[10])
        redis.call('PUBLISH', ARGV[2], '1')
        return id
        """;
}
