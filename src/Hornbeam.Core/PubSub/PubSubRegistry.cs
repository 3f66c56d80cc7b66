using Hornbeam.Redis;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// The topics some node holds subscribers for: a sorted set scored by expiry, refreshed with each count and swept by every
/// node's heartbeat, so it lists a topic only while some node refreshes it.
/// </summary>
internal sealed class PubSubRegistry(IConnectionMultiplexer redis, RedisKeys keys)
{
    private IDatabase Db => redis.GetDatabase();

    /// <summary>Lists <paramref name="topic"/> until <paramref name="expiresAtMs"/>.</summary>
    public void List(string topic, long expiresAtMs) =>
        _ = Db.SortedSetAddAsync(keys.PubSubTopics, topic, expiresAtMs, CommandFlags.FireAndForget);

    /// <summary>Drops the topics whose expiry has passed.</summary>
    public void Sweep() => Sweep(NowMs());

    /// <summary>The topics listed now, after a sweep.</summary>
    public async Task<string[]> ListedAsync()
    {
        var now = NowMs();
        Sweep(now);
        var names = await Db.SortedSetRangeByScoreAsync(keys.PubSubTopics, now, double.PositiveInfinity);
        return Array.ConvertAll(names, name => name.ToString());
    }

    private void Sweep(long now) =>
        _ = Db.SortedSetRemoveRangeByScoreAsync(keys.PubSubTopics, double.NegativeInfinity, now, Exclude.Stop, CommandFlags.FireAndForget);

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
