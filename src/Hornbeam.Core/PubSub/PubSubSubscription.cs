using System.Runtime.CompilerServices;
using Hornbeam.Telemetry;

namespace Hornbeam.PubSub;

/// <summary>
/// A live subscription to one topic, counted as a subscriber until disposed. Enumerate it once: first the replay from history
/// (when a last event id was given), then live messages, each id once and in order; it ends with an
/// <see cref="PubSubMessageKind.Overflow"/> item when the subscriber fell too far behind, or quietly when the node shuts down.
/// Finishing or abandoning the enumeration disposes the subscription.
/// </summary>
public sealed class PubSubSubscription : IAsyncEnumerable<PubSubMessage>, IAsyncDisposable
{
    private readonly RedisPubSub _owner;
    private readonly TopicHub _hub;
    private readonly LocalSubscriber _subscriber;
    private readonly long? _lastEventId;
    private int _enumerated;
    private int _disposed;

    internal PubSubSubscription(RedisPubSub owner, TopicHub hub, LocalSubscriber subscriber, long? lastEventId)
    {
        _owner = owner;
        _hub = hub;
        _subscriber = subscriber;
        _lastEventId = lastEventId;
        HornbeamMetrics.OpenSubscriptions.Add(1);
    }

    /// <summary>The topic subscribed to.</summary>
    public string Topic => _hub.Topic;

    /// <summary>The id delivery continues after: the last event id given, else the topic's last id when this subscribed.</summary>
    public long StartsAfter => _lastEventId ?? _subscriber.After;

    /// <inheritdoc />
    public IAsyncEnumerator<PubSubMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
            throw new InvalidOperationException("A subscription can be enumerated once; subscribe again for another reader.");
        return EnumerateAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }

    private async IAsyncEnumerable<PubSubMessage> EnumerateAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            var registered = _subscriber.After;
            var last = StartsAfter;
            if (last > registered)
            {
                // The id is from the future: the topic's data was lost (e.g. Redis restarted empty), so its ids started again.
                yield return _owner.Notices.Gap(Topic, last, registered,
                    "the topic's ids restarted; the given last event id is ahead of its last id");
                last = registered;
            }
            else if (last < registered)
            {
                await foreach (var missed in _owner.History.CatchUpAsync(Topic, last, registered, cancellationToken))
                    yield return missed;
                last = registered;
            }

            // One registration for the whole enumeration rather than one per wait (a cancelable wait allocates and registers
            // each time): cancelling ends the buffer, which wakes the reader, and the enumeration then throws as usual.
            using var cancelled = cancellationToken.UnsafeRegister(static s => ((LocalSubscriber)s!).End(), _subscriber);
            var reader = _subscriber.Reader;
            while (await reader.WaitToReadAsync(CancellationToken.None))
            {
                while (reader.TryRead(out var message))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (message.Id <= last) continue;
                    if (message.Id > last + 1)
                    {
                        // Live delivery skipped ids (e.g. the Redis connection dropped for a moment): fill them from history.
                        await foreach (var missed in _owner.History.CatchUpAsync(Topic, last, message.Id - 1, cancellationToken))
                            yield return missed;
                    }
                    yield return message;
                    last = message.Id;
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (_subscriber.Overflowed) yield return _owner.Notices.Overflow(Topic, last);
            else if (_subscriber.EndReason is { } reason) yield return _owner.Notices.Reconnect(Topic, last, reason);
        }
        finally
        {
            await DisposeAsync();
        }
    }

    /// <summary>Leaves the topic: this subscriber stops counting at once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        HornbeamMetrics.OpenSubscriptions.Add(-1);
        await _owner.ReleaseAsync(_hub, _subscriber);
    }
}
