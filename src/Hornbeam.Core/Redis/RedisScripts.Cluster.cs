namespace Hornbeam.Redis;

/// <summary>Presence (KEYS[1] the node set, KEYS[2] the info hash) and RPC request streams (KEYS[1] the stream).</summary>
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

    // Refusing beats trimming: a full stream answers nil (503 overloaded) instead of dropping requests no node has run yet,
    // and the request and its doorbell go out in one round trip. Finished requests are deleted, so XLEN counts unfinished ones.
    // ARGV: max length, doorbell channel, then the entry's fields, the last (traceparent) optional: only a non-empty one is
    // written, so an untraced call's entry is what older nodes wrote. Answers the entry id, or nil when the stream is full.
    public const string RpcSend = """
        if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
        local fields = {'id', ARGV[3], 'kind', ARGV[4], 'from', ARGV[5], 'reply_to', ARGV[6],
          'module', ARGV[7], 'function', ARGV[8], 'args', ARGV[9], 'deadline', ARGV[10]}
        if ARGV[11] and ARGV[11] ~= '' then
          fields[#fields + 1] = 'traceparent'
          fields[#fields + 1] = ARGV[11]
        end
        local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
        redis.call('PUBLISH', ARGV[2], '1')
        return id
        """;

    // Finishing a request is one step: it is either pending (unanswered) or acknowledged, deleted and answered, so a
    // restarted node never mistakes an answered request for an unfinished one. ARGV: group, entry id, reply channel or '', reply.
    public const string RpcDone = """
        redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
        redis.call('XDEL', KEYS[1], ARGV[2])
        if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
        return 1
        """;

    // A stopped or dead node's stream goes if empty, else it is kept for a while for a node restarted with the same name
    // (casts answered 202 wait there). ARGV: retention ms. Answers how many requests were left.
    public const string RpcRetire = """
        local left = redis.call('XLEN', KEYS[1])
        if left == 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return left
        """;
}
