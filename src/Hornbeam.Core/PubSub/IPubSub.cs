using System.Text.Json;

namespace Hornbeam.PubSub;

/// <summary>
/// The seed's <c>publish(topic, message)</c>, and subscribing, across every node that shares the Redis. Event ids are a per-topic
/// sequence, ordered across the cluster, that starts from the time (unix ms × 1000) and counts up by one, so ids keep increasing
/// when a topic's sequence expires with its history or Redis loses it; recent messages stay in a bounded history so a subscriber
/// can resume after a reconnect.
/// </summary>
public interface IPubSub
{
    /// <summary>
    /// Publishes <paramref name="value"/> (serialized as JSON) to every subscriber of <paramref name="topic"/> on every live node.
    /// Answers the event id and the number of subscribers registered at publish time on live nodes: those cluster presence holds
    /// live, so a node that died stops counting when presence declares it dead.
    /// </summary>
    Task<PublishResult> PublishAsync<T>(string topic, T value, JsonSerializerOptions? json = null);

    /// <summary>
    /// Publishes one JSON value given as UTF-8 bytes; invalid JSON is refused with
    /// <see cref="HornbeamError.InvalidInput"/>.
    /// </summary>
    Task<PublishResult> PublishJsonAsync(string topic, ReadOnlyMemory<byte> json);

    /// <summary>
    /// Publishes at most once per <paramref name="once"/>: the message and the record of its id are one step, so a retry
    /// answers the first id (with the current subscriber count) instead of sending it again. A key reused for another
    /// request throws <see cref="HornbeamError.IdempotencyKeyReused"/>.
    /// </summary>
    Task<PublishResult> PublishJsonAsync(string topic, ReadOnlyMemory<byte> json, Idempotency.IdempotentRequest once);

    /// <summary>
    /// Subscribes to <paramref name="topic"/>. The answer counts as a subscriber once this completes; enumerate it to receive
    /// messages, and dispose it (or finish enumerating) to leave. With <paramref name="lastEventId"/> it first replays the messages
    /// after that id from history, announcing a <see cref="PubSubMessageKind.Gap"/> where history no longer reaches back.
    /// </summary>
    Task<PubSubSubscription> SubscribeAsync(string topic, long? lastEventId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Subscribes as above; with <paramref name="deliverInline"/> the topic's fan-out runs this subscription's reader itself,
    /// saving a thread-pool hop per message. Only for a reader that never blocks between awaits (a stream writer of
    /// this node), never for a caller's loop that might.
    /// </summary>
    Task<PubSubSubscription> SubscribeAsync(string topic, long? lastEventId, bool deliverInline, CancellationToken cancellationToken);

    /// <summary>The number of subscribers of <paramref name="topic"/> on live nodes (as for a publish), and its last event id.</summary>
    Task<PubSubTopic> TopicAsync(string topic);

    /// <summary>Topics that have subscribers on live nodes, by name.</summary>
    Task<IReadOnlyList<PubSubTopic>> TopicsAsync();
}

/// <summary>What a publish did: the message's event <paramref name="Id"/> and how many subscribers it was delivered to.</summary>
public sealed record PublishResult(long Subscribers, long Id);

/// <summary>
/// A topic, its subscriber count across live nodes, and the id its next message follows: its last message's, or where a sequence
/// started by a subscriber begins (0 when the topic has no sequence).
/// </summary>
public sealed record PubSubTopic(string Topic, long Subscribers, long LastEventId);

/// <summary>What a <see cref="PubSubMessage"/> carries.</summary>
public enum PubSubMessageKind
{
    /// <summary>A published message: <see cref="PubSubMessage.Id"/> is its event id, <see cref="PubSubMessage.Json"/> its value.</summary>
    Message,

    /// <summary>
    /// Messages were lost for this subscriber (history no longer reaches back). <see cref="PubSubMessage.Id"/> is the id the stream
    /// resumes after; the JSON says <c>last_event_id</c> and <c>resumes_after</c>. Resynchronise, then carry on.
    /// </summary>
    Gap,

    /// <summary>The subscriber fell more than its buffer behind and was cut off; this is the last item. Resume with the last id.</summary>
    Overflow,

    /// <summary>
    /// This node ended the subscription (it is shutting down, or lost Redis); this is the last item. Reconnect, to any node,
    /// with <see cref="PubSubMessage.Id"/> as the last event id: nothing published meanwhile is lost while history holds it.
    /// </summary>
    Reconnect,
}

/// <summary>One item of a subscription: a message, or a notice of a gap or an overflow (see <see cref="Kind"/>).</summary>
public sealed record PubSubMessage(string Topic, long Id, PubSubMessageKind Kind, byte[] Json)
{
    /// <summary>The JSON deserialized as <typeparamref name="T"/>.</summary>
    public T? Deserialize<T>(JsonSerializerOptions? options = null) => JsonSerializer.Deserialize<T>(Json, options);
}
