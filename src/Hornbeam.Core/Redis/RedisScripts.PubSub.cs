namespace Hornbeam.Redis;

/// <summary>
/// Pub/sub scripts. KEYS are a topic's <see cref="PubSubTopicKeys"/>; history members are <c>id:publishedAtMs:json</c>. Counts are
/// kept per node instance (<c>name#startedAtMs</c>), and the caller keeps only those of instances cluster presence holds live.
/// </summary>
internal static partial class RedisScripts
{
    // Id, history, trims, subscriber counts and PUBLISH in one step: ids reach subscribers in order and history holds every published id.
    // A missing sequence starts at the time in microseconds (ms .. '000'), so ids stay increasing after it expired or Redis lost it.
    // Ids go to strings with %d: Lua's own number formatting would round them.
    // With an Idempotency-Key, the message and the record of its id are written together, so a retry finds the record exactly
    // when the message was published (KEYS[5] the record, in the topic's slot; ARGV[7] fingerprint, ARGV[8] window ms).
    // KEYS: seq, history, nodes, alive[, record]. ARGV: json, now ms, max length, max age ms, channel, sequence ttl ms[, fp, window].
    // Answers {id, {instance, count, ...}} for instances whose count has not expired; {-1} when the record is another request's.
    public const string PubSubPublish = """
        if KEYS[5] then
          local r = redis.call('GET', KEYS[5])
          if r then
            local nl = string.find(r, '\n', 1, true)
            if string.sub(r, 1, nl - 1) ~= ARGV[7] then return {-1} end
            return {tonumber(string.sub(r, nl + 1)), redis.call('HGETALL', KEYS[3])}
          end
        end
        if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[2] .. '000') end
        local id = redis.call('INCR', KEYS[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[6])
        local sid = string.format('%d', id)
        redis.call('ZADD', KEYS[2], sid, sid .. ':' .. ARGV[2] .. ':' .. ARGV[1])
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
        local counts = redis.call('HGETALL', KEYS[3])
        if KEYS[5] then redis.call('SET', KEYS[5], ARGV[7] .. '\n' .. sid, 'PX', ARGV[8]) end
        redis.call('PUBLISH', ARGV[5], sid .. ':' .. ARGV[1])
        return {id, counts}
        """;

    // A node's count and its expiry change together, expired counts of other nodes go, and the sequence read with them tells new
    // subscribers where live delivery starts. A topic with subscribers keeps its sequence (started from the time if missing) alive,
    // so ids never restart under a subscriber.
    // KEYS: seq, nodes, alive. ARGV: instance, count, expiry ms, ttl ms, now ms, sequence ttl ms.
    public const string PubSubRegister = """
        for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])) do
          redis.call('HDEL', KEYS[2], node)
          redis.call('ZREM', KEYS[3], node)
        end
        if tonumber(ARGV[2]) > 0 then
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
          redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
          redis.call('PEXPIRE', KEYS[2], ARGV[4])
          redis.call('PEXPIRE', KEYS[3], ARGV[4])
          if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[5] .. '000') end
          redis.call('PEXPIRE', KEYS[1], ARGV[6])
        else
          redis.call('HDEL', KEYS[2], ARGV[1])
          redis.call('ZREM', KEYS[3], ARGV[1])
        end
        return tonumber(redis.call('GET', KEYS[1]) or '0')
        """;

    // Reads the unexpired counts and the sequence as one snapshot. KEYS: seq, nodes, alive. ARGV: now ms.
    // Answers {last id, {instance, count, ...}}.
    public const string PubSubCount = """
        local counts = {}
        for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[1], '+inf')) do
          counts[#counts + 1] = node
          counts[#counts + 1] = redis.call('HGET', KEYS[2], node) or '0'
        end
        return {tonumber(redis.call('GET', KEYS[1]) or '0'), counts}
        """;

    // Drops the count of an instance cluster presence no longer holds live, so no later count has to ask about it again.
    // KEYS: nodes, alive. ARGV: instance.
    public const string PubSubForget = "redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1]) return 1";
}
