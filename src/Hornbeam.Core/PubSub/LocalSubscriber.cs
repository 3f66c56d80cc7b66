using System.Threading.Channels;

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
        new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            AllowSynchronousContinuations = inline,
            FullMode = BoundedChannelFullMode.Wait
        });
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
