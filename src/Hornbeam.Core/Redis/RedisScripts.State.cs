namespace Hornbeam.Redis;

/// <summary>
/// State beyond plain set, delete and increment: lifetimes, conditions on the stored value's ETag and transactions. A
/// key's ETag is the SHA-1 of its stored bytes (<c>redis.sha1hex</c>), so no script keeps a version of its own. Each
/// script's writes: the value key, the bucket's index (member = state key, score 0) and the bucket's expiry set
/// (member = state key, score = when its lifetime ends, ms); the time is Redis's <c>TIME</c>, one clock for every replica.
/// SET takes the lifetime as PX rather than PXAT, which the embedded Garnet store does not take; the sweep reads PTTL
/// before it lets an entry go, so the two need not agree to the millisecond.
/// A condition arrives as <c>m</c> (If-Match) or <c>n</c> (If-None-Match) and the ETags as <c>*</c> or
/// <c>,sha1,sha1,</c>; empty means none.
/// </summary>
internal static partial class RedisScripts
{
    // The remaining lifetimes (ms; -1 none, -2 absent) of keys of one slot, for the GETs queued with them (RedisBatcher).
    public const string StateTimesToLive = "local out = {} for i = 1, #KEYS do out[i] = redis.call('PTTL', KEYS[i]) end return out";

    // The condition is read and the value written in one step, so two replicas' read-modify-write loops cannot both
    // win. Combined: each call brings (value, index, expiry) and (json, ttl ms or 0, condition, etags, key); answers
    // 1 when written, 0 when the condition does not hold (nothing written). With no lifetime the value has none, as
    // after Redis's SET.
    public static readonly CombinedScript StateSetIf = new(StateChange + """
        local out = {}
        local now
        for i = 1, #KEYS, 3 do
          local a = (i - 1) / 3 * 5
          local ttl, cond, tags, key = tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
          local ok = true
          if cond ~= '' then
            local cur = redis.call('GET', KEYS[i])
            local hit = cur and (tags == '*' or string.find(tags, ',' .. redis.sha1hex(cur) .. ',', 1, true) ~= nil)
            if cond == 'm' then ok = hit else ok = not hit end
          end
          if ok then
            if ttl > 0 then
              if not now then local t = redis.call('TIME') now = t[1] * 1000 + math.floor(t[2] / 1000) end
              redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ttl)
              redis.call('ZADD', KEYS[i + 2], now + ttl, key)
            else
              redis.call('SET', KEYS[i], ARGV[a + 1])
              redis.call('ZREM', KEYS[i + 2], key)
            end
            redis.call('ZADD', KEYS[i + 1], 0, key)
            hb_change(KEYS[i + 1], key, 'set', ARGV[a + 1])
            out[#out + 1] = 1
          else
            out[#out + 1] = 0
          end
        end
        return out
        """, KeysPerCall: 3, ValuesPerCall: 5);

    // A lifetime is given only by the increment that creates the counter (a fixed-window rate limit in one call), so it is
    // read whether the counter exists before INCRBY. Combined, and like StateIncrement adding deltas: each call brings
    // (value, index, expiry) and (delta, ttl ms, key).
    public static readonly CombinedScript StateIncrementExpiring = new(StateChange + """
        local out = {}
        local now
        for i = 1, #KEYS, 3 do
          local fresh = redis.call('EXISTS', KEYS[i]) == 0
          local v = redis.pcall('INCRBY', KEYS[i], ARGV[i])
          if type(v) ~= 'number' then
            v = { v.err }
          else
            if fresh then
              if not now then local t = redis.call('TIME') now = t[1] * 1000 + math.floor(t[2] / 1000) end
              redis.call('PEXPIREAT', KEYS[i], now + ARGV[i + 1])
              redis.call('ZADD', KEYS[i + 1], 0, ARGV[i + 2])
              redis.call('ZADD', KEYS[i + 2], now + ARGV[i + 1], ARGV[i + 2])
            end
            if v >= 9007199254740992 or v <= -9007199254740992 then v = redis.call('GET', KEYS[i]) end
            hb_change(KEYS[i + 1], ARGV[i + 2], 'incr', v, ARGV[i])
          end
          out[#out + 1] = v
        end
        return out
        """, KeysPerCall: 3, ValuesPerCall: 3) { AddsDeltas = true };

    // The same as StateIncrementOnce, for an increment with a lifetime: the record and the increment are one step.
    // KEYS: value, index, record, expiry. ARGV: delta, state key, fingerprint, window ms, ttl ms.
    public const string StateIncrementOnceExpiring = StateChange + """
        local r = redis.call('GET', KEYS[3])
        if r then
          local nl = string.find(r, '\n', 1, true)
          if string.sub(r, 1, nl - 1) ~= ARGV[3] then return {2} end
          return {1, string.sub(r, nl + 1)}
        end
        local fresh = redis.call('EXISTS', KEYS[1]) == 0
        local v = redis.pcall('INCRBY', KEYS[1], ARGV[1])
        if type(v) ~= 'number' then return v end
        if fresh then
          local t = redis.call('TIME')
          local at = t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[5]
          redis.call('PEXPIREAT', KEYS[1], at)
          redis.call('ZADD', KEYS[2], 0, ARGV[2])
          redis.call('ZADD', KEYS[4], at, ARGV[2])
        end
        local text = redis.call('GET', KEYS[1])
        hb_change(KEYS[2], ARGV[2], 'incr', text, ARGV[1])
        redis.call('SET', KEYS[3], ARGV[3] .. '\n' .. text, 'PX', ARGV[4])
        return {0, text}
        """;

    // The condition is read and the key deleted in one step. KEYS: value, index, expiry. ARGV: key, etags.
    // Answers 1 when deleted, 0 when the key is absent or its ETag is not one of them.
    public const string StateDeleteIf = StateChange + """
        local cur = redis.call('GET', KEYS[1])
        if not cur or (ARGV[2] ~= '*' and not string.find(ARGV[2], ',' .. redis.sha1hex(cur) .. ',', 1, true)) then return 0 end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        redis.call('ZREM', KEYS[3], ARGV[1])
        hb_change(KEYS[2], ARGV[1], 'delete')
        return 1
        """;

    // Redis forgets an expired value by itself; its index entry is taken out here. A due entry whose key lives on
    // (set again without a lifetime, or with a later one) is dropped or moved, never its index entry. A key taken out is
    // the feed's 'expire' change, so it arrives when a sweep or listing finds the key gone, not when Redis dropped it.
    // KEYS: index, expiry. ARGV: value-key prefix of the bucket, most entries to look at. Answers how many were due.
    private const string SweepLua = StateChange + """
        local t = redis.call('TIME')
        local now = t[1] * 1000 + math.floor(t[2] / 1000)
        local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[2])
        for _, m in ipairs(due) do
          local p = redis.call('PTTL', ARGV[1] .. m)
          if p == -2 then
            -- Still indexed means it expired; a key deleted meanwhile left the index then and has had its delete change.
            if redis.call('ZREM', KEYS[1], m) == 1 then hb_change(KEYS[1], m, 'expire') end
            redis.call('ZREM', KEYS[2], m)
          elseif p == -1 then
            redis.call('ZREM', KEYS[2], m)
          else
            redis.call('ZADD', KEYS[2], now + p, m)
          end
        end
        """;

    public const string StateSweep = SweepLua + "\nreturn #due";

    // Listing sweeps first, and then, while unswept expired keys remain (more than one sweep takes), skips any whose value
    // is gone, so a listing never names an expired key. A bucket with no lifetimes is one ZRANGEBYLEX, as before.
    // KEYS: index, expiry. ARGV: value-key prefix, most entries to sweep, min, max (ZRANGEBYLEX form), how many to answer.
    public const string StateList = SweepLua + """

        local want = tonumber(ARGV[5])
        if redis.call('ZCARD', KEYS[2]) == 0 then return redis.call('ZRANGEBYLEX', KEYS[1], ARGV[3], ARGV[4], 'LIMIT', 0, want) end
        local got, offset = {}, 0
        while #got < want do
          local page = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[3], ARGV[4], 'LIMIT', offset, want)
          for _, m in ipairs(page) do
            if #got < want and redis.call('EXISTS', ARGV[1] .. m) == 1 then got[#got + 1] = m end
          end
          if #page < want then break end
          offset = offset + #page
        end
        return got
        """;

    // All operations or none: each operation's condition is read when it runs (after the ones before it), and on the
    // first that fails every key touched so far gets back its value, lifetime, index and expiry entries. Every key is in
    // one bucket (KEYS[1] its index, KEYS[2] its expiry set), one hash slot on Redis Cluster. Changes go to the feed only
    // once every operation applied, so an undone transaction records nothing.
    // KEYS: index, expiry, then each operation's value key. ARGV: five per operation: kind (s, d, i), key, json or
    // delta, etags ('' when unconditional), ttl ms or 0. Answers {0, results...} with {etag} for a set, {} for a delete
    // and {etag, value} for an increment, or {412, n} or {409, n, message} for operation n (nothing changed).
    public const string StateTransaction = StateChange + """
        local t = redis.call('TIME')
        local now = t[1] * 1000 + math.floor(t[2] / 1000)
        local saved, order, changes = {}, {}, {}
        local function undo()
          for j = #order, 1, -1 do
            local k = order[j]
            local s = saved[k]
            if s[1] then
              if s[2] > 0 then redis.call('SET', k, s[1], 'PX', s[2]) else redis.call('SET', k, s[1]) end
              redis.call('ZADD', KEYS[1], 0, s[4])
            else
              redis.call('DEL', k)
              redis.call('ZREM', KEYS[1], s[4])
            end
            if s[3] then redis.call('ZADD', KEYS[2], s[3], s[4]) else redis.call('ZREM', KEYS[2], s[4]) end
          end
        end
        local out = {0}
        for o = 1, #KEYS - 2 do
          local a = (o - 1) * 5
          local kind, key, arg, tags, ttl = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], tonumber(ARGV[a + 5])
          local k = KEYS[o + 2]
          local cur = redis.call('GET', k)
          if saved[k] == nil then
            saved[k] = { cur or false, redis.call('PTTL', k), redis.call('ZSCORE', KEYS[2], key) or false, key }
            order[#order + 1] = k
          end
          if tags ~= '' and (not cur or (tags ~= '*' and not string.find(tags, ',' .. redis.sha1hex(cur) .. ',', 1, true))) then
            undo()
            return {412, o}
          end
          if kind == 's' then
            if ttl > 0 then
              redis.call('SET', k, arg, 'PX', ttl)
              redis.call('ZADD', KEYS[2], now + ttl, key)
            else
              redis.call('SET', k, arg)
              redis.call('ZREM', KEYS[2], key)
            end
            redis.call('ZADD', KEYS[1], 0, key)
            changes[#changes + 1] = { key, 'set', arg }
            out[#out + 1] = { redis.sha1hex(arg) }
          elseif kind == 'd' then
            if redis.call('DEL', k) == 1 then changes[#changes + 1] = { key, 'delete' } end
            redis.call('ZREM', KEYS[1], key)
            redis.call('ZREM', KEYS[2], key)
            out[#out + 1] = {}
          else
            local v = redis.pcall('INCRBY', k, arg)
            if type(v) ~= 'number' then
              undo()
              return {409, o, v.err}
            end
            if not cur then
              redis.call('ZADD', KEYS[1], 0, key)
              if ttl > 0 then
                redis.call('PEXPIREAT', k, now + ttl)
                redis.call('ZADD', KEYS[2], now + ttl, key)
              end
            end
            local text = redis.call('GET', k)
            changes[#changes + 1] = { key, 'incr', text, arg }
            out[#out + 1] = { redis.sha1hex(text), text }
          end
        end
        for _, c in ipairs(changes) do hb_change(KEYS[1], c[1], c[2], c[3], c[4]) end
        return out
        """;
}
