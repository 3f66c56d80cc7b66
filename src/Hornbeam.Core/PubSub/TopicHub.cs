using Hornbeam.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// A topic this node has subscribers for: the node's ONE listener on the topic's channel (<see cref="RedisChannels"/>), fanned out
/// in-process to the local subscribers. Members change under the owner's lock; the fan-out reads a copy-on-write array without locking.
/// </summary>
internal sealed class TopicHub(string topic, RedisChannel channel, RedisChannels channels, Action<TopicHub, LocalSubscriber> overflow,
    ILogger logger)
{
    private LocalSubscriber[] _members = [];
    private Task<ChannelListener>? _listening;

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
    public Task EnsureSubscribedAsync()
    {
        lock (this) return _listening ??= channels.ListenAsync(channel, FanOut);
    }

    public async Task CloseAsync()
    {
        Task<ChannelListener>? listening;
        lock (this) listening = _listening;
        if (listening is null) return;
        try
        {
            (await listening).Dispose();
        }
        catch (Exception e) when (e is RedisException or TimeoutException or InvalidOperationException or ObjectDisposedException)
        {
            // A subscription that failed left nothing to leave.
            logger.LogDebug(e, "Subscribing to pub/sub topic {Topic} had failed", Topic);
        }
    }

    private void FanOut(RedisValue received)
    {
        if (!TryParse(received, out var message))
        {
            logger.LogWarning("Ignored a malformed pub/sub message on topic {Topic}", Topic);
            return;
        }
        foreach (var member in Members)
            if (!member.TryWrite(message)) overflow(this, member);
    }

    // Published as "id:json" by the publish script.
    private bool TryParse(RedisValue value, out PubSubMessage message)
    {
        message = null!;
        var bytes = (byte[]?)value;
        if (bytes is null) return false;
        var colon = Array.IndexOf(bytes, (byte)':');
        if (colon <= 0 || !System.Buffers.Text.Utf8Parser.TryParse(bytes.AsSpan(0, colon), out long id, out var used)
            || used != colon) return false;
        message = new PubSubMessage(Topic, id, PubSubMessageKind.Message, bytes[(colon + 1)..]);
        return true;
    }
}
