using Hornbeam.Cluster;
using Hornbeam.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// Subscriber counts per topic. Each node keeps its count in Redis under its instance (name and start time) with an expiry
/// that the heartbeat refreshes. A count counts only while cluster presence holds that instance live, so a node that dies
/// stops counting when presence declares it dead; its entries go with their expiry (<see cref="PubSubOptions.NodeExpiry"/>)
/// or at the first count that finds them dead.
/// </summary>
internal sealed class PubSubCounts(
    IConnectionMultiplexer redis, RedisKeys keys, NodeIdentity node, IClusterPresence presence, PubSubOptions options,
    PubSubRegistry registry, ILogger logger)
{
    // A restarted node with the same name is another instance: the counts its previous process left never count for it.
    private readonly string _instance = $"{node.Name}#{node.StartedAt.ToUnixTimeMilliseconds()}";
    // A node's count for a topic is written under its stripe's gate, so a stale count never overwrites a newer one.
    private readonly SemaphoreSlim[] _gates = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    private IDatabase Db => redis.GetDatabase();

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>
    /// A topic's sequence lives as long as its history (and at least as long as a count, so the heartbeat of a subscribed node
    /// keeps it): after that it is gone, and the next one starts from the time, above every id the old one gave.
    /// </summary>
    public long SequenceTtlMs => (long)Math.Max(options.HistoryAge.TotalMilliseconds, options.NodeExpiry.TotalMilliseconds);

    /// <summary>The topic's live subscriber count across nodes and its last id.</summary>
    public async Task<PubSubTopic> ReadAsync(string topic)
    {
        var k = keys.PubSubTopic(topic);
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(RedisScripts.PubSubCount, [k.Sequence, k.Nodes, k.Alive], [NowMs()]))!;
        return new PubSubTopic(topic, await CountLiveAsync(topic, (RedisResult[])result[1]!), (long)result[0]);
    }

    /// <summary>
    /// Sums the counts (<c>instance, count, ...</c>) of the instances cluster presence holds live: this one, those live in memory,
    /// and, asked of Redis, any other. Counts of instances found dead are dropped so no later count asks about them again.
    /// </summary>
    public async ValueTask<long> CountLiveAsync(string topic, RedisResult[] counts)
    {
        long sum = 0;
        List<(string Instance, long Count)>? unsure = null;
        IReadOnlyCollection<NodeInfo>? known = null;
        for (var i = 0; i + 1 < counts.Length; i += 2)
        {
            var instance = (string)counts[i]!;
            var count = (long)counts[i + 1];
            if (instance == _instance || IsLive(instance, known ??= presence.KnownNodes)) sum += count;
            else (unsure ??= []).Add((instance, count));
        }
        if (unsure is null) return sum;
        IReadOnlyList<NodeInfo> live;
        try
        {
            live = await presence.LiveNodesAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Not confirmed live: not counted, and not dropped either.
            logger.LogDebug("Could not read live nodes to count topic {Topic}: {Message}", topic, e.Message);
            return sum;
        }
        foreach (var (instance, count) in unsure)
        {
            if (IsLive(instance, live)) sum += count;
            else _ = ForgetAsync(topic, instance);
        }
        return sum;
    }

    private static bool IsLive(string instance, IEnumerable<NodeInfo> nodes)
    {
        var hash = instance.LastIndexOf('#');
        if (hash < 0 || !long.TryParse(instance.AsSpan(hash + 1), out var startedAt)) return false;
        var name = instance.AsSpan(0, hash);
        foreach (var n in nodes)
            if (name.SequenceEqual(n.Node) && n.StartedAt.ToUnixTimeMilliseconds() == startedAt) return true;
        return false;
    }

    private async Task ForgetAsync(string topic, string instance)
    {
        var k = keys.PubSubTopic(topic);
        try
        {
            await Db.ScriptEvaluateAsync(RedisScripts.PubSubForget, [k.Nodes, k.Alive], [instance]);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Its entry still expires with NodeExpiry.
            logger.LogDebug("Could not drop the count of dead instance {Instance} on topic {Topic}: {Message}", instance, topic, e.Message);
        }
    }

    /// <summary>
    /// Writes this node's current subscriber count for <paramref name="topic"/> (the <paramref name="members"/> read under the
    /// topic's gate) with a fresh expiry, and tells every local subscriber counted for the first time the sequence it starts after.
    /// </summary>
    public async Task SyncAsync(string topic, Func<string, LocalSubscriber[]> members)
    {
        var gate = _gates[(int)((uint)StringComparer.Ordinal.GetHashCode(topic) % (uint)_gates.Length)];
        await gate.WaitAsync();
        try
        {
            var counted = members(topic);
            var k = keys.PubSubTopic(topic);
            var now = NowMs();
            var expiryMs = (long)options.NodeExpiry.TotalMilliseconds;
            var register = Db.ScriptEvaluateAsync(RedisScripts.PubSubRegister, [k.Sequence, k.Nodes, k.Alive],
                [_instance, counted.Length, now + expiryMs, expiryMs, now, SequenceTtlMs]);
            if (counted.Length > 0) registry.List(topic, now + expiryMs);
            var sequence = (long)await register;
            foreach (var member in counted) member.SetAfterOnce(sequence);
        }
        finally
        {
            gate.Release();
        }
    }
}
