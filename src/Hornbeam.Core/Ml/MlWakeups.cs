using StackExchange.Redis;

namespace Hornbeam.Ml;

/// <summary>
/// Wakes callers waiting in this process for a cache key, through one Redis subscription per key channel on the shared
/// multiplexer. Subscribing and unsubscribing happen under one lock, so a caller arriving while the last one leaves
/// never ends up attached to a subscription that is being torn down.
/// </summary>
internal sealed class MlWakeups(IConnectionMultiplexer redis)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Listeners> _channels = new(StringComparer.Ordinal);

    /// <summary>Subscribes to <paramref name="channel"/> (or joins the subscription already there) and answers a handle to wait on.</summary>
    public async Task<Listening> ListenAsync(RedisChannel channel)
    {
        var name = channel.ToString();
        var listening = new Listening(this, name);
        Task subscribed;
        lock (_gate)
        {
            if (!_channels.TryGetValue(name, out var listeners))
            {
                listeners = new Listeners(channel);
                var own = listeners;
                own.Handler = (_, _) => { lock (_gate) foreach (var waiter in own.Waiters) waiter.Signal.Release(); };
                own.Subscribed = redis.GetSubscriber().SubscribeAsync(channel, own.Handler);
                _channels.Add(name, own);
            }
            listeners.Waiters.Add(listening);
            listening.Listeners = listeners;
            subscribed = listeners.Subscribed;
        }
        try
        {
            await subscribed;
        }
        catch
        {
            listening.Dispose();
            throw;
        }
        return listening;
    }

    private void Leave(Listening listening)
    {
        lock (_gate)
        {
            var listeners = listening.Listeners;
            if (listeners is null || !listeners.Waiters.Remove(listening) || listeners.Waiters.Count > 0) return;
            _channels.Remove(listening.Name);
            // The handler is detached at once; the UNSUBSCRIBE is only traffic, and a later SUBSCRIBE is queued after it.
            _ = redis.GetSubscriber().UnsubscribeAsync(listeners.Channel, listeners.Handler, CommandFlags.FireAndForget);
        }
    }

    internal sealed class Listeners(RedisChannel channel)
    {
        public RedisChannel Channel { get; } = channel;
        public List<Listening> Waiters { get; } = [];
        public Action<RedisChannel, RedisValue> Handler { get; set; } = null!;
        public Task Subscribed { get; set; } = Task.CompletedTask;
    }

    /// <summary>One waiter's place on a channel; dispose it to leave.</summary>
    public sealed class Listening(MlWakeups owner, string name) : IDisposable
    {
        internal string Name { get; } = name;
        internal Listeners? Listeners { get; set; }
        internal SemaphoreSlim Signal { get; } = new(0);

        /// <summary>Waits for a notification on the channel; false when <paramref name="timeout"/> passed first.</summary>
        public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => Signal.WaitAsync(timeout, ct);

        /// <inheritdoc />
        public void Dispose() => owner.Leave(this);
    }
}
