namespace Hornbeam.Redis;

/// <summary>Idempotency records: KEYS[1] is a request's record hash (fields fp, state, status, ctype, location, body).</summary>
internal static partial class RedisScripts
{
    // Claiming is one step, so two replicas given the same key at once cannot both run the request.
    // ARGV: fingerprint, window ms. Answers {'claimed'} or the existing record's fields and values.
    public const string IdempotencyClaim = """
        if redis.call('HSETNX', KEYS[1], 'fp', ARGV[1]) == 1 then
          redis.call('HSET', KEYS[1], 'state', 'pending')
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return {'claimed'}
        end
        return redis.call('HGETALL', KEYS[1])
        """;

    // Only the claim of this very request turns into its answer. ARGV: fingerprint, status, content type, location, body.
    public const string IdempotencyRecord = """
        if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
        redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'ctype', ARGV[3], 'location', ARGV[4], 'body', ARGV[5])
        return 1
        """;

    // A released claim must still be this request's and unanswered. ARGV: fingerprint.
    public const string IdempotencyRelease = """
        if redis.call('HGET', KEYS[1], 'fp') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'pending' then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    // The increment and the record of its answer are one step: a retry finds the record exactly when the change exists,
    // on the master and, once replicas confirm, after a failover. A refused INCRBY writes nothing and records nothing.
    // KEYS: value, index, record. ARGV: delta, state key, fingerprint, window ms. Answers {0, value} when applied now,
    // {1, value} when the record answers, {2} when the record belongs to another request.
    public const string StateIncrementOnce = StateChange + """
        local r = redis.call('GET', KEYS[3])
        if r then
          local nl = string.find(r, '\n', 1, true)
          if string.sub(r, 1, nl - 1) ~= ARGV[3] then return {2} end
          return {1, string.sub(r, nl + 1)}
        end
        local v = redis.pcall('INCRBY', KEYS[1], ARGV[1])
        if type(v) ~= 'number' then return v end
        if v == tonumber(ARGV[1]) then redis.call('ZADD', KEYS[2], 0, ARGV[2]) end
        local text = redis.call('GET', KEYS[1])
        hb_change(KEYS[2], ARGV[2], 'incr', text, ARGV[1])
        redis.call('SET', KEYS[3], ARGV[3] .. '\n' .. text, 'PX', ARGV[4])
        return {0, text}
        """;
}
