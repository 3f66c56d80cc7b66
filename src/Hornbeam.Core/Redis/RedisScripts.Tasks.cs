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
    // A retry whose earlier attempt was applied but never confirmed finds its own finisher token and answers 2, not 0.
    // ARGV: retention seconds, finisher token, then field/value pairs. Answers 1 ended now, 2 already ended by this
    // finisher, 0 ended by someone else (or gone).
    public const string TaskFinish =
        "local s = redis.call('HGET', KEYS[1], 'status') " +
        "if s ~= 'running' then if s and redis.call('HGET', KEYS[1], 'finisher') == ARGV[2] then return 2 end return 0 end " +
        "redis.call('HSET', KEYS[1], 'finisher', ARGV[2], unpack(ARGV, 3)) redis.call('DEL', KEYS[2]) " +
        "redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1";

    // Declaring a task dead must not race its node renewing the lease: check and write in one step.
    // ARGV: retention seconds, then field/value pairs.
    public const string TaskAbandon =
        "if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end " +
        "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1";

    // A node back from a Redis blink longer than the lease takes its lease again, unless a waiter already declared the
    // task dead: the status check and the renewal are one step, so the two never both win.
    // ARGV: lease ms, lease holder, retention seconds. Answers 1 while the task runs, 0 once it ended (or is gone).
    public const string TaskRenew =
        "if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end " +
        "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1]) redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1";
}
