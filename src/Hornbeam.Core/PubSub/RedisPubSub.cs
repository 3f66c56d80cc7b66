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
/// holds one Redis subscription per topic (a <see cref="TopicHub"/>) and fans it out to its local subscribers. The rest has its
/// own type: subscriber counts (<see cref="PubSubCounts"/>), the topic registry (<see cref="PubSubRegistry"/>), catch-up from
/// history (<see cref="PubSubHistory"/>), the notices a subscriber gets (<see cref="PubSubNotices"/>) and the count heartbeat
/// (<see cref="PubSubHeartbeat"/>); start and shutdown are in RedisPubSub.Lifecycle.cs.
/// </summary>
internal sealed partial class RedisPubSub : IPubSub
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisChannels _channels;
    private readonly RedisBatcher _batcher;
    private readonly RedisKeys _keys;
    private readonly PubSubOptions _options;
    private readonly HornbeamOptions _hornbeam;
    private readonly IdempotencyOptions _idempotency;
    private readonly PubSubCounts _counts;
    private readonly PubSubRegistry _registry;
    private readonly PubSubHeartbeat _heartbeat;
    private readonly ILogger<RedisPubSub> _logger;
    private readonly Dictionary<string, TopicHub> _hubs = new(StringComparer.Ordinal); // locked on itself
    private int _local; // subscriptions on this node, under the _hubs lock

    public RedisPubSub(IConnectionMultiplexer redis, RedisChannels channels, RedisBatcher batcher, RedisKeys keys, NodeIdentity node,
        IClusterPresence presence, IOptions<PubSubOptions> pubSubOptions, IOptions<HornbeamOptions> hornbeamOptions,
        IOptions<IdempotencyOptions> idempotencyOptions, ILogger<RedisPubSub> logger)
    {
        (_redis, _channels, _batcher, _keys, _logger) = (redis, channels, batcher, keys, logger);
        (_options, _hornbeam, _idempotency) = (pubSubOptions.Value, hornbeamOptions.Value, idempotencyOptions.Value);
        _registry = new PubSubRegistry(redis, keys);
        _counts = new PubSubCounts(redis, keys, node, presence, _options, _registry, logger);
        _heartbeat = new PubSubHeartbeat(_counts, _registry, _options, logger);
        Notices = new PubSubNotices(_options);
        History = new PubSubHistory(redis, keys, _options, Notices);
        _work = new BackgroundWork(logger);
    }

    /// <summary>The gap, overflow and reconnect items subscriptions end or resynchronise with.</summary>
    internal PubSubNotices Notices { get; }

    /// <summary>Catch-up from history for subscriptions that resume or skipped ids.</summary>
    internal PubSubHistory History { get; }

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public Task<PublishResult> PublishAsync<T>(string topic, T value, JsonSerializerOptions? json = null) =>
        PublishJsonAsync(topic, JsonSerializer.SerializeToUtf8Bytes(value, json));

    public Task<PublishResult> PublishJsonAsync(string topic, ReadOnlyMemory<byte> json) => PublishOnceAsync(topic, json, null);

    public Task<PublishResult> PublishJsonAsync(string topic, ReadOnlyMemory<byte> json, IdempotentRequest once) =>
        PublishOnceAsync(topic, json, once);

    /// <summary>Publishes; with <paramref name="once"/>, at most once per idempotency key.</summary>
    private async Task<PublishResult> PublishOnceAsync(string topic, ReadOnlyMemory<byte> json, IdempotentRequest? once)
    {
        ValidateTopic(topic);
        var value = StateStore.NormalizeValue(json.Span, _hornbeam.MaxValueBytes);
        var k = _keys.PubSubTopic(topic);
        RedisValue[] values = [value, NowMs(), _options.HistoryLength, (long)_options.HistoryAge.TotalMilliseconds,
            _keys.PubSubChannel(topic), _counts.SequenceTtlMs];
        RedisKey[] topicKeys = once is null
            ? [k.Sequence, k.History, k.Nodes, k.Alive]
            : [k.Sequence, k.History, k.Nodes, k.Alive, _keys.PubSubIdempotencyRecord(topic, once)];
        if (once is not null) values = [.. values, once.Fingerprint, _idempotency.WindowSeconds * 1000L];
        // Through the batcher, so replicas confirm the message like any other write when Hornbeam:Redis:WaitReplicas asks it.
        var result = (RedisResult[])(await _batcher.ScriptEvaluateAsync(RedisScripts.PubSubPublish, topicKeys, values))!;
        if ((long)result[0] < 0) throw IdempotencyStore.Reused();
        var subscribers = await _counts.CountLiveAsync(topic, (RedisResult[])result[1]!);
        HornbeamMetrics.PublishFanOut.Record(subscribers);
        return new PublishResult(subscribers, (long)result[0]);
    }

    public Task<PubSubSubscription> SubscribeAsync(string topic, long? lastEventId = null, CancellationToken cancellationToken = default) =>
        SubscribeAsync(topic, lastEventId, deliverInline: false, cancellationToken);

    /// <summary>
    /// Subscribes; with <paramref name="deliverInline"/> the topic's fan-out runs this subscription's reader itself (see
    /// <see cref="LocalSubscriber"/>): for this node's own stream writers, never for a caller's loop that might block.
    /// </summary>
    public async Task<PubSubSubscription> SubscribeAsync(string topic, long? lastEventId, bool deliverInline,
        CancellationToken cancellationToken)
    {
        ValidateTopic(topic);
        if (lastEventId < 0)
            throw new HornbeamException(HornbeamError.InvalidInput, $"The last event id must be 0 or more; it was {lastEventId}.");
        var subscriber = new LocalSubscriber(_options.BufferCapacity, deliverInline);
        TopicHub hub;
        lock (_hubs)
        {
            if (_stopping)
                throw new HornbeamException(HornbeamError.Unavailable, "This node is shutting down; subscribe on another one.");
            if (_local >= _options.MaxSubscriptions)
                throw new HornbeamException(HornbeamError.Overloaded,
                    $"This node holds its maximum of {_options.MaxSubscriptions} subscriptions (Hornbeam:PubSub:MaxSubscriptions); " +
                    "retry, or subscribe on another node.");
            _local++;
            if (!_hubs.TryGetValue(topic, out hub!))
                _hubs[topic] = hub = new TopicHub(topic, RedisChannel.Literal(_keys.PubSubChannel(topic)), _channels, OnOverflow, _logger);
            hub.Add(subscriber);
        }
        try
        {
            // Live first, then the count: every message counted for this subscriber is already on its way to it.
            await hub.EnsureSubscribedAsync().WaitAsync(cancellationToken);
            await _counts.SyncAsync(topic, Members).WaitAsync(cancellationToken);
            return new PubSubSubscription(this, hub, subscriber, lastEventId);
        }
        catch
        {
            await ReleaseAsync(hub, subscriber);
            throw;
        }
    }

    public Task<PubSubTopic> TopicAsync(string topic)
    {
        ValidateTopic(topic);
        return _counts.ReadAsync(topic);
    }

    public async Task<IReadOnlyList<PubSubTopic>> TopicsAsync()
    {
        var names = await _registry.ListedAsync();
        var topics = await Task.WhenAll(names.Select(TopicAsync));
        return topics.Where(t => t.Subscribers > 0).OrderBy(t => t.Topic, StringComparer.Ordinal).ToArray();
    }

    /// <summary>This node's subscribers of <paramref name="topic"/> now: what its count counts.</summary>
    private LocalSubscriber[] Members(string topic)
    {
        lock (_hubs) return _hubs.TryGetValue(topic, out var hub) ? hub.Members : [];
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
        if (_stopping) return;
        try
        {
            await _counts.SyncAsync(hub.Topic, Members);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
            // The stale count stops counting when its expiry passes, since nothing refreshes it.
            _logger.LogWarning("Could not lower the subscriber count of topic {Topic}: {Message}", hub.Topic, e.Message);
        }
    }

    private void ValidateTopic(string topic)
    {
        if (string.IsNullOrEmpty(topic))
            throw new HornbeamException(HornbeamError.InvalidInput, "The topic is empty; give a non-empty topic such as 'chat:general'.");
        var bytes = Encoding.UTF8.GetByteCount(topic);
        if (bytes > _hornbeam.MaxKeyBytes)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"The topic is {bytes} bytes long; at most {_hornbeam.MaxKeyBytes} UTF-8 bytes are allowed.");
    }
}
