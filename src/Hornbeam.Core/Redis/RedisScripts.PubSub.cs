namespace Hornbeam.Redis;

/// <summary>Pub/sub scripts. KEYS are a topic's <see cref="PubSubTopicKeys"/>; history members are <c>id:publishedAtMs:json</c>.</summary>
internal static partial class RedisScripts
{
    // Id, history, trims, subscriber count and PUBLISH in one step: ids reach subscribers in order and history holds every published id.
    // KEYS: seq, history, nodes, alive. ARGV: json, now ms, max length, max age ms, channel.
    public const string PubSubPublish = """
        local id = redis.call('INCR', KEYS[1])
        redis.call('ZADD', KEYS[2], id, id .. ':' .. ARGV[2] .. ':' .. ARGV[1])
        local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
        if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1) end
        local cutoff = tonumber(ARGV[2]) - tonumber(ARGV[4])
        local stale = 0
        for _, entry in ipairs(redis.call('ZRANGE', KEYS[2], 0, 99)) do
          if tonumber(string.match(entry, '^%d+:(%d+):')) < cutoff then stale = stale + 1 else break end
        end
        if stale > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, stale - 1) end
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
        for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[2])) do
          redis.call('HDEL', KEYS[3], node)
          redis.call('ZREM', KEYS[4], node)
        end
        local subscribers = 0
        for _, count in ipairs(redis.call('HVALS', KEYS[3])) do subscribers = subscribers + tonumber(count) end
        redis.call('PUBLISH', ARGV[5], id .. ':' .. ARGV[1])
        return {id, subscribers}
        """;

    // A node's count and its expiry change together, and the sequence read with them tells new subscribers where live delivery starts.
    // KEYS: seq, nodes, alive. ARGV: node, count, expiry ms, ttl ms.
    public const string PubSubRegister = """
        if tonumber(ARGV[2]) > 0 then
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
          redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
          redis.call('PEXPIRE', KEYS[2], ARGV[4])
          redis.call('PEXPIRE', KEYS[3], ARGV[4])
        else
          redis.call('HDEL', KEYS[2], ARGV[1])
          redis.call('ZREM', KEYS[3], ARGV[1])
        end
        return tonumber(redis.call('GET', KEYS[1]) or '0')
        """;

    // Counts only nodes whose expiry is in the future, and reads the sequence with them.
    // KEYS: seq, nodes, alive. ARGV: now ms.
    public const string PubSubCount = """
        local subscribers = 0
        for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[1], '+inf')) do
          subscribers = subscribers + tonumber(redis.call('HGET', KEYS[2], node) or '0')
        end
        return {subscribers, tonumber(redis.call('GET', KEYS[1]) or '0')}
        """;
}
