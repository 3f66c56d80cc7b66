using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>The Lua scripts that make each read-modify-write one atomic step. KEYS[1] is a value, KEYS[2] its bucket index.</summary>
internal static partial class RedisScripts
{
    // The value and its index entry change together, so a listing never names a key that is gone or misses one that exists.
    public const string StateSet = "redis.call('SET', KEYS[1], ARGV[1]) redis.call('ZADD', KEYS[2], 0, ARGV[2]) return 1";

    public const string StateDelete = "redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[1]) return 1";

    // INCRBY fails on text or overflow before ZADD runs, so a refused increment writes nothing. Only a result equal to
    // delta can mean a new key (every existing key is indexed already), so the index is touched only then.
    public const string StateIncrement = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) if v == tonumber(ARGV[1]) then redis.call('ZADD', KEYS[2], 0, ARGV[2]) end return v";
}
