namespace Hornbeam.Redis;

/// <summary>Task scripts: KEYS[1] is the task hash, KEYS[2] its lease.</summary>
internal static partial class RedisScripts
{
    // The hash and its lease appear together, so no waiter ever sees a running task without a lease and declares it dead.
    // ARGV: retention seconds, lease ms, lease holder, then field/value pairs.
    public const string TaskStart =
        "redis.call('HSET', KEYS[1], unpack(ARGV, 4)) redis.call('EXPIRE', KEYS[1], ARGV[1]) " +
        "redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) return 1";

    // Only a running task may end, once: the first of the runner, a shutdown or a waiter that found the lease gone wins.
    // ARGV: retention seconds, then field/value pairs.
    public const string TaskFinish =
        "if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end " +
        "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) redis.call('DEL', KEYS[2]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1";

    // Declaring a task dead must not race its node renewing the lease: check and write in one step.
    // ARGV: retention seconds, then field/value pairs.
    public const string TaskAbandon =
        "if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end " +
        "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1";
}
