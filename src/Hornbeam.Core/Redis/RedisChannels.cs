using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// This process's subscriptions to Redis channels, on the shared multiplexer; every capability subscribes through it.
/// A channel has one Redis subscription however many listeners here share it (counted: the last to leave unsubscribes),
/// and its messages reach every listener in the order Redis sent them. Subscribing and leaving happen under one lock, so
/// a listener arriving while the last one leaves never joins a subscription that is being torn down.
/// </summary>
internal sealed class RedisChannels(IConnectionMultiplexer redis, IOptions<RedisOptions> options, ILogger<RedisChannels> logger)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<RedisChannel, Subscription> _subscriptions = [];

    /// <summary>
    /// Subscribes <paramref name="onMessage"/> to <paramref name="channel"/> (or joins the subscription already there);
    /// completes once Redis has confirmed the subscription. Dispose the answer to leave. <paramref name="onMessage"/> runs
    /// on the channel's delivery loop, one message after another, so it must not block.
    /// </summary>
    public async Task<ChannelListener> ListenAsync(RedisChannel channel, Action<RedisValue> onMessage,
        CancellationToken cancellationToken = default)
    {
        var listener = new ChannelListener(this, onMessage);
        Task subscribed;
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(channel, out var subscription))
            {
                subscription = new Subscription(channel);
                _subscriptions.Add(channel, subscription);
                // Under the lock: StackExchange.Redis registers the subscription before its first await, so registrations and
                // removals reach it in the order they were made here.
                subscription.Subscribed = SubscribeAsync(subscription);
            }
            subscription.Listeners = [.. subscription.Listeners, listener];
            listener.Subscription = subscription;
            subscribed = subscription.Subscribed;
        }
        try
        {
            await subscribed.WaitAsync(cancellationToken);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return listener;
    }

    /// <summary>Subscribes to <paramref name="channel"/> to wait for its messages (<see cref="ChannelWaiter.WaitAsync"/>).</summary>
    public async Task<ChannelWaiter> WaitOnAsync(RedisChannel channel, CancellationToken cancellationToken = default)
    {
        var waiter = new ChannelWaiter();
        waiter.Listener = await ListenAsync(channel, _ => waiter.Signal(), cancellationToken);
        return waiter;
    }

    /// <summary>
    /// A subscription to <paramref name="channel"/> that is tried again until it holds, on a timer of its own
    /// (<see cref="RedisOptions.SubscriptionCheckInterval"/>); call
    /// <see cref="KeptSubscription.EnsureAsync"/> where the owner needs it now (at start, before a call that waits on it).
    /// With <paramref name="probe"/>, for a channel only this process listens to, it also checks that Redis still delivers
    /// there. <paramref name="what"/> names it in the log.
    /// </summary>
    public KeptSubscription Keep(RedisChannel channel, Action<RedisValue> onMessage, string what, bool probe = false) =>
        new(this, redis, channel, onMessage, what, probe, options.Value.SubscriptionCheckInterval, logger);

    private async Task SubscribeAsync(Subscription subscription)
    {
        try
        {
            var queue = await redis.GetSubscriber().SubscribeAsync(subscription.Channel);
            _ = Task.Run(() => DeliverAsync(subscription, queue));
        }
        catch
        {
            // A later listener starts afresh rather than joining a failed subscription.
            lock (_gate) Forget(subscription);
            throw;
        }
    }

    // A message queue, not a handler: StackExchange.Redis runs handlers concurrently, and listeners rely on order.
    private async Task DeliverAsync(Subscription subscription, ChannelMessageQueue queue)
    {
        try
        {
            await foreach (var received in queue)
                foreach (var listener in subscription.Listeners)
                {
                    try
                    {
                        listener.OnMessage(received.Message);
                    }
                    catch (Exception e)
                    {
                        logger.LogWarning(e, "A listener on Redis channel {Channel} failed", subscription.Channel);
                    }
                }
        }
        catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
        {
            // Unsubscribed.
        }
    }

    internal void Leave(ChannelListener listener)
    {
        lock (_gate)
        {
            if (listener.Subscription is not { } subscription) return;
            listener.Subscription = null;
            subscription.Listeners = Array.FindAll(subscription.Listeners, l => l != listener);
            if (subscription.Listeners.Length == 0) Forget(subscription);
        }
    }

    // Under _gate. Whatever this process has registered on the channel is this subscription's, since nothing else subscribes
    // on the shared multiplexer: all of it goes, including what a failed SUBSCRIBE left registered. The registration goes at
    // once; the UNSUBSCRIBE is only traffic, and a later SUBSCRIBE is queued after it.
    private void Forget(Subscription subscription)
    {
        if (!_subscriptions.TryGetValue(subscription.Channel, out var current) || current != subscription) return;
        _subscriptions.Remove(subscription.Channel);
        try
        {
            _ = redis.GetSubscriber().UnsubscribeAsync(subscription.Channel, null, CommandFlags.FireAndForget);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
            logger.LogDebug("Unsubscribing from Redis channel {Channel} failed: {Message}", subscription.Channel, e.Message);
        }
    }

    internal sealed class Subscription(RedisChannel channel)
    {
        public RedisChannel Channel { get; } = channel;

        // Copy-on-write under _gate; the delivery loop reads it without locking.
        public volatile ChannelListener[] Listeners = [];

        public Task Subscribed { get; set; } = Task.CompletedTask;
    }
}
