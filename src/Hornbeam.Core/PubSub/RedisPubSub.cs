using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Idempotency;
using Hornbeam.Redis;
using Hornbeam.State;
using Hornbeam.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// The Redis implementation of <see cref="IPubSub"/>. Publishing is one Lua script (sequence, history, counts, PUBLISH). Each node
/// holds one Redis subscription per topic and fans it out to its local subscribers; it keeps its subscriber count per topic in
/// Redis under its instance (name and start time) with an expiry that a heartbeat refreshes. A count counts only while cluster
/// presence holds that instance live, so a node that dies stops counting when presence declares it dead; its entries go with
/// their expiry (<see cref="PubSubOptions.NodeExpiry"/>) or at the first count that finds them dead.
/// </summary>
internal sealed class RedisPubSub(
    IConnectionMultiplexer redis,
    RedisBatcher batcher,
    RedisKeys keys,
    NodeIdentity node,
    IClusterPresence presence,
    IOptions<PubSubOptions> pubSubOptions,
    IOptions<HornbeamOptions> hornbeamOptions,
    IOptions<IdempotencyOptions> idempotencyOptions,
    ILogger<RedisPubSub> logger) : IPubSub, IHostedLifecycleService, IAsyncDisposable
{
    private const int HistoryPage = 500;
    private readonly PubSubOptions _options = pubSubOptions.Value;
    private readonly HornbeamOptions _hornbeam = hornbeamOptions.Value;
    // A restarted node with the same name is another instance: the counts its previous process left never count for it.
    private readonly string _instance = $"{node.Name}#{node.StartedAt.ToUnixTimeMilliseconds()}";
    private readonly Dictionary<string, TopicHub> _hubs = new(StringComparer.Ordinal); // locked on itself
    private int _local; // subscriptions on this node, under the _hubs lock
    // A node's count for a topic is written under its stripe's gate, so a stale count never overwrites a newer one.
    private readonly SemaphoreSlim[] _countGates = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private readonly CancellationTokenSource _stopping = new();
    private Task? _heartbeat;

    private IDatabase Db => redis.GetDatabase();

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public Task<PublishResult> PublishAsync<T>(string topic, T value, JsonSerializerOptions? json = null) =>
        PublishJsonAsync(topic, JsonSerializer.SerializeToUtf8Bytes(value, json));

    public Task<PublishResult> PublishJsonAsync(string topic, ReadOnlyMemory<byte> json) => PublishOnceAsync(topic, json, null);

    public Task<PublishResult> PublishJsonAsync(string topic, ReadOnlyMemory<byte> json, IdempotentRequest once) => PublishOnceAsync(topic, json, once);

    /// <summary>Publishes; with <paramref name="once"/>, at most once per idempotency key.</summary>
    private async Task<PublishResult> PublishOnceAsync(string topic, ReadOnlyMemory<byte> json, IdempotentRequest? once)
    {
        ValidateTopic(topic);
        var value = StateStore.NormalizeValue(json.Span, _hornbeam.MaxValueBytes);
        var k = keys.PubSubTopic(topic);
        RedisValue[] values = [value, NowMs(), _options.HistoryLength, (long)_options.HistoryAge.TotalMilliseconds, keys.PubSubChannel(topic), SequenceTtlMs];
        RedisKey[] topicKeys = once is null
            ? [k.Sequence, k.History, k.Nodes, k.Alive]
            : [k.Sequence, k.History, k.Nodes, k.Alive, keys.PubSubIdempotencyRecord(topic, once)];
        if (once is not null) values = [.. values, once.Fingerprint, idempotencyOptions.Value.WindowSeconds * 1000L];
        // Through the batcher, so replicas confirm the message like any other write when Hornbeam:Redis:WaitReplicas asks it.
        var result = (RedisResult[])(await batcher.ScriptEvaluateAsync(RedisScripts.PubSubPublish, topicKeys, values))!;
        if ((long)result[0] < 0) throw IdempotencyStore.Reused();
        var subscribers = await CountLiveAsync(topic, (RedisResult[])result[1]!);
        HornbeamMetrics.PublishFanOut.Record(subscribers);
        return new PublishResult(subscribers, (long)result[0]);
    }

    public Task<PubSubSubscription> SubscribeAsync(string topic, long? lastEventId = null, CancellationToken cancellationToken = default) =>
        SubscribeAsync(topic, lastEventId, deliverInline: false, cancellationToken);

    /// <summary>
    /// Subscribes; with <paramref name="deliverInline"/> the topic's fan-out runs this subscription's reader itself (see
    /// <see cref="LocalSubscriber"/>): for this node's own stream writers, never for a caller's loop that might block.
    /// </summary>
    public async Task<PubSubSubscription> SubscribeAsync(string topic, long? lastEventId, bool deliverInline, CancellationToken cancellationToken)
    {
        ValidateTopic(topic);
        if (lastEventId < 0)
            throw new HornbeamException(HornbeamError.InvalidInput, $"The last event id must be 0 or more; it was {lastEventId}.");
        var subscriber = new LocalSubscriber(_options.BufferCapacity, deliverInline);
        TopicHub hub;
        lock (_hubs)
        {
            if (_stopping.IsCancellationRequested)
                throw new HornbeamException(HornbeamError.Unavailable, "This node is shutting down; subscribe on another one.");
            if (_local >= _options.MaxSubscriptions)
                throw new HornbeamException(HornbeamError.Overloaded,
                    $"This node holds its maximum of {_options.MaxSubscriptions} subscriptions (Hornbeam:PubSub:MaxSubscriptions); retry, or subscribe on another node.");
            _local++;
            if (!_hubs.TryGetValue(topic, out hub!))
                _hubs[topic] = hub = new TopicHub(topic, RedisChannel.Literal(keys.PubSubChannel(topic)), OnOverflow, logger);
            hub.Add(subscriber);
        }
        try
        {
            // Live first, then the count: every message counted for this subscriber is already on its way to it.
            await hub.EnsureSubscribedAsync(redis.GetSubscriber()).WaitAsync(cancellationToken);
            await SyncCountAsync(topic).WaitAsync(cancellationToken);
            return new PubSubSubscription(this, hub, subscriber, lastEventId);
        }
        catch
        {
            await ReleaseAsync(hub, subscriber);
            throw;
        }
    }

    public async Task<PubSubTopic> TopicAsync(string topic)
    {
        ValidateTopic(topic);
        var k = keys.PubSubTopic(topic);
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(RedisScripts.PubSubCount, [k.Sequence, k.Nodes, k.Alive], [NowMs()]))!;
        return new PubSubTopic(topic, await CountLiveAsync(topic, (RedisResult[])result[1]!), (long)result[0]);
    }

    /// <summary>
    /// A topic's sequence lives as long as its history (and at least as long as a count, so the heartbeat of a subscribed node
    /// keeps it): after that it is gone, and the next one starts from the time, above every id the old one gave.
    /// </summary>
    private long SequenceTtlMs => (long)Math.Max(_options.HistoryAge.TotalMilliseconds, _options.NodeExpiry.TotalMilliseconds);

    /// <summary>
    /// Sums the counts (<c>instance, count, ...</c>) of the instances cluster presence holds live: this one, those live in memory,
    /// and, asked of Redis, any other. Counts of instances found dead are dropped so no later count asks about them again.
    /// </summary>
    private async ValueTask<long> CountLiveAsync(string topic, RedisResult[] counts)
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

    public async Task<IReadOnlyList<PubSubTopic>> TopicsAsync()
    {
        var now = NowMs();
        _ = Db.SortedSetRemoveRangeByScoreAsync(keys.PubSubTopics, double.NegativeInfinity, now, Exclude.Stop, CommandFlags.FireAndForget);
        var names = await Db.SortedSetRangeByScoreAsync(keys.PubSubTopics, now, double.PositiveInfinity);
        var topics = await Task.WhenAll(names.Select(name => TopicAsync(name.ToString())));
        return topics.Where(t => t.Subscribers > 0).OrderBy(t => t.Topic, StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// Writes this node's current subscriber count for <paramref name="topic"/> with a fresh expiry, and tells every local
    /// subscriber counted for the first time the sequence it starts after.
    /// </summary>
    private async Task SyncCountAsync(string topic)
    {
        var gate = _countGates[(int)((uint)StringComparer.Ordinal.GetHashCode(topic) % (uint)_countGates.Length)];
        await gate.WaitAsync();
        try
        {
            LocalSubscriber[] members;
            lock (_hubs) members = _hubs.TryGetValue(topic, out var hub) ? hub.Members : [];
            var k = keys.PubSubTopic(topic);
            var now = NowMs();
            var expiryMs = (long)_options.NodeExpiry.TotalMilliseconds;
            var register = Db.ScriptEvaluateAsync(RedisScripts.PubSubRegister, [k.Sequence, k.Nodes, k.Alive],
                [_instance, members.Length, now + expiryMs, expiryMs, now, SequenceTtlMs]);
            if (members.Length > 0) _ = Db.SortedSetAddAsync(keys.PubSubTopics, topic, now + expiryMs, CommandFlags.FireAndForget);
            var sequence = (long)await register;
            foreach (var member in members) member.SetAfterOnce(sequence);
        }
        finally
        {
            gate.Release();
        }
    }

    private void OnOverflow(TopicHub hub, LocalSubscriber subscriber)
    {
        if (!subscriber.End(overflowed: true)) return;
        _ = ReleaseAsync(hub, subscriber);
    }

    internal async Task ReleaseAsync(TopicHub hub, LocalSubscriber subscriber)
    {
        subscriber.End();
        bool last;
        lock (_hubs)
        {
            if (!hub.Remove(subscriber)) return;
            _local--;
            last = hub.Members.Length == 0 && _hubs.TryGetValue(hub.Topic, out var current) && current == hub;
            if (last) _hubs.Remove(hub.Topic);
        }
        if (last) await hub.CloseAsync();
        if (_stopping.IsCancellationRequested) return;
        try
        {
            await SyncCountAsync(hub.Topic);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
            // The stale count stops counting when its expiry passes, since nothing refreshes it.
            logger.LogWarning("Could not lower the subscriber count of topic {Topic}: {Message}", hub.Topic, e.Message);
        }
    }

    /// <summary>
    /// Messages (<paramref name="after"/>, <paramref name="upTo"/>] from history, with a gap notice for those it no longer holds.
    /// After 0 (a subscriber that has seen nothing) it is what history holds, with no gap before it: ids start from the time, so
    /// most ids below the first never existed.
    /// </summary>
    internal async IAsyncEnumerable<PubSubMessage> CatchUpAsync(string topic, long after, long upTo, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var history = keys.PubSubTopic(topic).History;
        var cutoff = NowMs() - (long)_options.HistoryAge.TotalMilliseconds;
        var fromStart = after == 0;
        var expected = after + 1;
        while (expected <= upTo)
        {
            var page = await Db.SortedSetRangeByScoreAsync(history, expected, upTo, take: HistoryPage).WaitAsync(cancellationToken);
            foreach (var entry in page)
            {
                if (!TryParseEntry((byte[])entry!, out var id, out var publishedAt, out var json) || publishedAt < cutoff || id < expected) continue;
                if (id > expected && !fromStart) yield return Gap(topic, expected - 1, id - 1, "history no longer holds the messages after the last event id");
                yield return new PubSubMessage(topic, id, PubSubMessageKind.Message, json);
                expected = id + 1;
                fromStart = false;
            }
            if (page.Length < HistoryPage) break;
        }
        if (expected <= upTo && !fromStart) yield return Gap(topic, expected - 1, upTo, "history no longer holds the messages after the last event id");
    }

    // History members are "id:publishedAtMs:json".
    private static bool TryParseEntry(byte[] entry, out long id, out long publishedAt, out byte[] json)
    {
        publishedAt = 0;
        json = [];
        if (!Utf8Parser.TryParse(entry, out id, out var used) || used >= entry.Length || entry[used] != ':') return false;
        var rest = entry.AsSpan(used + 1);
        if (!Utf8Parser.TryParse(rest, out publishedAt, out var used2) || used2 >= rest.Length || rest[used2] != ':') return false;
        json = rest[(used2 + 1)..].ToArray();
        return true;
    }

    internal PubSubMessage Gap(string topic, long lastEventId, long resumesAfter, string reason) =>
        new(topic, resumesAfter, PubSubMessageKind.Gap, Json(w =>
        {
            w.WriteNumber("last_event_id"u8, lastEventId);
            w.WriteNumber("resumes_after"u8, resumesAfter);
            w.WriteString("reason"u8, reason);
        }));

    internal PubSubMessage Overflow(string topic, long lastEventId) =>
        new(topic, lastEventId, PubSubMessageKind.Overflow, Json(w =>
        {
            w.WriteString("reason"u8, $"the subscriber fell more than {_options.BufferCapacity} messages behind, so it was cut off; resubscribe with last_event_id {lastEventId} to resume from history");
            w.WriteNumber("buffer_capacity"u8, _options.BufferCapacity);
            w.WriteNumber("last_event_id"u8, lastEventId);
        }));

    internal PubSubMessage Reconnect(string topic, long lastEventId, string reason) =>
        new(topic, lastEventId, PubSubMessageKind.Reconnect, Json(w =>
        {
            w.WriteString("reason"u8, reason);
            w.WriteNumber("last_event_id"u8, lastEventId);
            w.WriteNumber("retry_ms"u8, (long)_options.RetryInterval.TotalMilliseconds);
        }));

    /// <summary>Ends every local subscription with a notice to reconnect; each then leaves its topic as usual.</summary>
    private void EndAll(string reason)
    {
        TopicHub[] hubs;
        lock (_hubs) hubs = [.. _hubs.Values];
        foreach (var hub in hubs)
            foreach (var member in hub.Members)
                member.End(reason: reason);
    }

    // Live messages published while the subscription connection is down never arrive; the subscribers reconnect and replay them.
    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType is not (ConnectionType.Subscription or ConnectionType.Interactive)) return;
        logger.LogWarning("Pub/sub lost Redis ({Failure}); ending {Count} local subscriptions so their clients reconnect with their last event id",
            e.FailureType, _hubs.Count);
        EndAll("this node lost its connection to Redis; reconnect with your last event id (any node, once Redis answers)");
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private void ValidateTopic(string topic)
    {
        if (string.IsNullOrEmpty(topic))
            throw new HornbeamException(HornbeamError.InvalidInput, "The topic is empty; give a non-empty topic such as 'chat:general'.");
        var bytes = Encoding.UTF8.GetByteCount(topic);
        if (bytes > _hornbeam.MaxKeyBytes)
            throw new HornbeamException(HornbeamError.InvalidInput, $"The topic is {bytes} bytes long; at most {_hornbeam.MaxKeyBytes} UTF-8 bytes are allowed.");
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed += OnConnectionFailed;
        _heartbeat = HeartbeatAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    private async Task HeartbeatAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                string[] topics;
                lock (_hubs) topics = [.. _hubs.Keys];
                try
                {
                    // The registry lists a topic while some node refreshes it; every node sweeps it, so it holds no topic for long.
                    _ = Db.SortedSetRemoveRangeByScoreAsync(keys.PubSubTopics, double.NegativeInfinity, NowMs(), Exclude.Stop, CommandFlags.FireAndForget);
                    await Task.WhenAll(topics.Select(SyncCountAsync));
                }
                catch (Exception e) when (e is RedisException or ObjectDisposedException)
                {
                    logger.LogWarning("Could not refresh pub/sub subscriber counts: {Message}", e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A clean shutdown, before the server stops: local subscriptions end (so open streams finish and their clients reconnect
    /// elsewhere) and this node's counts go at once.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested) return;
        TopicHub[] hubs;
        lock (_hubs)
        {
            _stopping.Cancel();
            hubs = [.. _hubs.Values];
            _hubs.Clear();
        }
        if (_heartbeat is not null) await _heartbeat;
        foreach (var hub in hubs)
            foreach (var member in hub.Members)
                member.End(reason: "this node is shutting down; reconnect (any node) with your last event id");
        try
        {
            await Task.WhenAll(hubs.Select(h => SyncCountAsync(h.Topic))).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or OperationCanceledException)
        {
            logger.LogWarning("Could not remove this node's pub/sub counts on shutdown; they expire within {Expiry}: {Message}", _options.NodeExpiry, e.Message);
        }
        await Task.WhenAll(hubs.Select(h => h.CloseAsync()));
    }

    public async ValueTask DisposeAsync() => await StoppingAsync(CancellationToken.None);
}
