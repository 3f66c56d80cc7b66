using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// One subscriber on this node: a bounded buffer that the topic's fan-out writes and its subscription reads. With
/// <paramref name="inline"/> a waiting reader resumes on the writer's thread instead of a thread-pool hop of its own: the fan-out
/// then walks every such subscriber in one pass, which matters with a thousand of them per message. Only for readers that never
/// block between awaits (the SSE writer), since each runs inside the fan-out.
/// </summary>
internal sealed class LocalSubscriber(int capacity, bool inline = false)
{
    private readonly Channel<PubSubMessage> _buffer = Channel.CreateBounded<PubSubMessage>(
        new BoundedChannelOptions(capacity) { SingleReader = true, AllowSynchronousContinuations = inline, FullMode = BoundedChannelFullMode.Wait });
    private int _state; // 0 open, 1 ended, 2 overflowed
    private long _after = -1;

    public ChannelReader<PubSubMessage> Reader => _buffer.Reader;

    public bool Overflowed => Volatile.Read(ref _state) == 2;

    /// <summary>The topic's sequence when a count including this subscriber first reached Redis; -1 until then.</summary>
    public long After => Interlocked.Read(ref _after);

    public void SetAfterOnce(long sequence) => Interlocked.CompareExchange(ref _after, sequence, -1);

    public bool TryWrite(PubSubMessage message) => _buffer.Writer.TryWrite(message);

    /// <summary>Why this node ended the subscription (shutdown, Redis lost), when it did; the subscriber is told to reconnect.</summary>
    public string? EndReason { get; private set; }

    /// <summary>Ends the subscription after what is buffered; answers false when it had ended already.</summary>
    public bool End(bool overflowed = false, string? reason = null)
    {
        if (Interlocked.CompareExchange(ref _state, overflowed ? 2 : 1, 0) != 0) return false;
        EndReason = reason;
        _buffer.Writer.TryComplete();
        return true;
    }
}

/// <summary>
/// A topic this node has subscribers for: the node's ONE Redis subscription to the topic's channel, fanned out in-process to the
/// local subscribers. Members change under the owner's lock; the fan-out reads a copy-on-write array without locking.
/// </summary>
internal sealed class TopicHub(string topic, RedisChannel channel, Action<TopicHub, LocalSubscriber> overflow, ILogger logger)
{
    private LocalSubscriber[] _members = [];
    private Task<ChannelMessageQueue>? _subscribed;

    public string Topic { get; } = topic;

    public LocalSubscriber[] Members => Volatile.Read(ref _members);

    public void Add(LocalSubscriber subscriber) => Volatile.Write(ref _members, [.. _members, subscriber]);

    public bool Remove(LocalSubscriber subscriber)
    {
        var index = Array.IndexOf(_members, subscriber);
        if (index < 0) return false;
        Volatile.Write(ref _members, [.. _members[..index], .. _members[(index + 1)..]]);
        return true;
    }

    /// <summary>Subscribes to the channel once, however many callers ask; completes when Redis has confirmed it.</summary>
    public Task EnsureSubscribedAsync(ISubscriber subscriber)
    {
        lock (this) return _subscribed ??= SubscribeAsync(subscriber);
    }

    private async Task<ChannelMessageQueue> SubscribeAsync(ISubscriber subscriber)
    {
        var queue = await subscriber.SubscribeAsync(channel);
        _ = Task.Run(() => FanOutAsync(queue));
        return queue;
    }

    public async Task CloseAsync()
    {
        Task<ChannelMessageQueue>? subscribed;
        lock (this) subscribed = _subscribed;
        if (subscribed is null) return;
        try
        {
            await (await subscribed).UnsubscribeAsync();
        }
        catch (Exception e) when (e is RedisException or InvalidOperationException or ObjectDisposedException)
        {
            // The multiplexer drops the subscription itself when the connection is gone.
            logger.LogDebug(e, "Unsubscribing from pub/sub topic {Topic} failed", Topic);
        }
    }

    private async Task FanOutAsync(ChannelMessageQueue queue)
    {
        try
        {
            await foreach (var received in queue)
            {
                if (!TryParse(received.Message, out var message))
                {
                    logger.LogWarning("Ignored a malformed pub/sub message on topic {Topic}", Topic);
                    continue;
                }
                foreach (var member in Members)
                    if (!member.TryWrite(message)) overflow(this, member);
            }
        }
        catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
        {
            // Unsubscribed.
        }
    }

    // Published as "id:json" by the publish script.
    private bool TryParse(RedisValue value, out PubSubMessage message)
    {
        message = null!;
        var bytes = (byte[]?)value;
        if (bytes is null) return false;
        var colon = Array.IndexOf(bytes, (byte)':');
        if (colon <= 0 || !System.Buffers.Text.Utf8Parser.TryParse(bytes.AsSpan(0, colon), out long id, out var used) || used != colon) return false;
        message = new PubSubMessage(Topic, id, PubSubMessageKind.Message, bytes[(colon + 1)..]);
        return true;
    }
}
