namespace Hornbeam.Redis;

/// <summary>The Lua scripts that make each read-modify-write one atomic step. KEYS[1] is a value, KEYS[2] its bucket index.</summary>
internal static partial class RedisScripts
{
    // The value and its index entry change together, so a listing never names a key that is gone or misses one that exists.
    // Combined: each call brings (value, index) and (json, key); a refused SET writes nothing and fails its call alone.
    public static readonly CombinedScript StateSet = new(StateChange + """
        local out = {}
        for i = 1, #KEYS, 2 do
          local r = redis.pcall('SET', KEYS[i], ARGV[i])
          if r.err then
            out[#out + 1] = { r.err }
          else
            redis.call('ZADD', KEYS[i + 1], 0, ARGV[i + 1])
            hb_change(KEYS[i + 1], ARGV[i + 1], 'set', ARGV[i])
            out[#out + 1] = 1
          end
        end
        return out
        """, KeysPerCall: 2, ValuesPerCall: 2);

    // Only a key that was there makes a change.
    public const string StateDelete = StateChange + """
        if redis.call('DEL', KEYS[1]) == 1 then hb_change(KEYS[2], ARGV[1], 'delete') end
        redis.call('ZREM', KEYS[2], ARGV[1])
        return 1
        """;

    // Combined: each call brings (value, index) and (delta, key). INCRBY fails on text or overflow before ZADD runs, so
    // a refused increment writes nothing and fails its call alone. Only a result equal to delta can mean a new key
    // (every existing key is indexed already), so the index is touched only then. Lua numbers are doubles: beyond
    // 2^53 the comparison may say yes for an old key (a harmless second ZADD), and the answer is read back exactly.
    // AddsDeltas: increments of one counter queued together arrive as one call of their sum (see RedisBatcher).
    public static readonly CombinedScript StateIncrement = new(StateChange + """
        local out = {}
        for i = 1, #KEYS, 2 do
          local v = redis.pcall('INCRBY', KEYS[i], ARGV[i])
          if type(v) ~= 'number' then
            v = { v.err }
          else
            if v == tonumber(ARGV[i]) then redis.call('ZADD', KEYS[i + 1], 0, ARGV[i + 1]) end
            if v >= 9007199254740992 or v <= -9007199254740992 then v = redis.call('GET', KEYS[i]) end
            hb_change(KEYS[i + 1], ARGV[i + 1], 'incr', v, ARGV[i])
          end
          out[#out + 1] = v
        end
        return out
        """, KeysPerCall: 2, ValuesPerCall: 2) { AddsDeltas = true };
}
