using Hornbeam.Redis;
using StackExchange.Redis;

namespace Hornbeam.Access;

/// <summary>
/// Request budgets and failed-attempt counts kept in Redis, so every replica spends from and counts into the same ones:
/// a key limited to N requests per second gets N across all replicas, not N per replica. One Redis round trip per
/// request, through the <see cref="RedisBatcher"/>: budget checks issued at the same moment go out as one script call.
/// </summary>
public sealed class SharedRateLimiter(RedisBatcher batcher, RedisKeys keys)
{
    /// <summary>
    /// The budget of <paramref name="bucket"/> (an API key's or a client address's), which refills at
    /// <paramref name="permitsPerSecond"/> and holds at most <paramref name="burst"/> permits (at least one). Prepared
    /// once per configured key, so checking it builds nothing per request.
    /// </summary>
    public RateBudget Budget(string bucket, int permitsPerSecond, int burst)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permitsPerSecond);
        // Whole microseconds: a budget of more than a million per second is as good as none.
        var interval = Math.Max(1, 1_000_000 / permitsPerSecond);
        return new RateBudget([keys.RateBudget(bucket)], [interval, Math.Max(1, burst)]);
    }

    /// <summary>
    /// Takes one permit from <paramref name="budget"/>. Answers <see cref="TimeSpan.Zero"/> when admitted, otherwise
    /// how long until the next permit; a refused request takes nothing.
    /// </summary>
    public async Task<TimeSpan> AcquireAsync(RateBudget budget)
    {
        var waitMicroseconds = (long)await batcher.ScriptEvaluateAsync(RedisScripts.RateAcquire, budget.Keys, budget.Values);
        return waitMicroseconds <= 0 ? TimeSpan.Zero : TimeSpan.FromMicroseconds(waitMicroseconds);
    }

    /// <summary>
    /// Counts one failed attempt from <paramref name="address"/> in the current window of <paramref name="window"/>
    /// (which starts with the first failure). Answers the count in this window and the time until the window ends.
    /// </summary>
    public async Task<(long Count, TimeSpan WindowLeft)> CountFailureAsync(string address, TimeSpan window)
    {
        var result = await batcher.ScriptEvaluateAsync(RedisScripts.AuthFailure, [keys.AuthFailures(address)],
            [(long)window.TotalMilliseconds]);
        return ((long)result[0], TimeSpan.FromMilliseconds(Math.Max(0, (long)result[1])));
    }
}

/// <summary>One request budget as the limiter sends it to Redis: its key and its rate. Never changed once built.</summary>
public sealed class RateBudget
{
    internal RateBudget(RedisKey[] keys, RedisValue[] values) => (Keys, Values) = (keys, values);

    internal RedisKey[] Keys { get; }

    internal RedisValue[] Values { get; }
}
