using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// A subscription a service needs for as long as it runs (<see cref="RedisChannels.Keep"/>). It looks after itself on a
/// timer of its own: while Redis refuses it, it is tried again at each tick (and at <see cref="EnsureAsync"/>, and when
/// the connection is restored). A subscription on a channel only this process listens to is also probed: a message
/// published on it that does not come back within a tick means Redis no longer delivers there, though the client
/// library still holds it (it has been known to lose one on a reconnect), and it is made afresh. Dispose it to leave.
/// </summary>
internal sealed class KeptSubscription : IDisposable
{
    // A SUBSCRIBE that neither succeeds nor fails within this is given up, so that the next tick tries again.
    private static readonly TimeSpan SubscribeTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly RedisChannels _channels;
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisChannel _channel;
    private readonly Action<RedisValue> _onMessage;
    private readonly string _what;
    private readonly ILogger _logger;
    private readonly byte[]? _probe;
    private readonly Timer _timer;
    // How often the subscription is tried or probed, and how long a probe may take to come back.
    private readonly TimeSpan _checkInterval;
    private ChannelListener? _listener;
    private Task? _trying;
    private bool _disposed;
    private int _checking;
    // A probe is out from its PUBLISH until it comes back; its clock starts once Redis has taken it (0 before that).
    private bool _probeOut;
    private long _probeTakenAt;

    internal KeptSubscription(RedisChannels channels, IConnectionMultiplexer redis, RedisChannel channel, Action<RedisValue> onMessage,
        string what, bool probe, TimeSpan checkInterval, ILogger logger)
    {
        (_channels, _redis, _channel, _onMessage, _what, _checkInterval, _logger) =
            (channels, redis, channel, onMessage, what, checkInterval, logger);
        if (probe) _probe = Encoding.UTF8.GetBytes($"hornbeam:probe:{Guid.NewGuid():N}");
        redis.ConnectionRestored += OnConnectionRestored;
        _timer = new Timer(_ => _ = CheckAsync(), null, checkInterval, checkInterval);
    }

    /// <summary>Whether Redis has confirmed the subscription (and, if probed, has not since failed to deliver a probe).</summary>
    public bool IsSubscribed => Volatile.Read(ref _listener) is not null;

    /// <summary>Subscribes unless subscribed already; a refusal is logged, not thrown, and the next call tries again.</summary>
    public Task EnsureAsync()
    {
        lock (_gate) return _listener is not null || _disposed ? Task.CompletedTask : _trying ??= TryAsync();
    }

    private async Task TryAsync()
    {
        // Never synchronously: callers store this task under the lock, and one that finished before it was stored (a refusal
        // thrown at once, as when Redis is not reachable yet) would stay stored and stop every later try.
        await Task.Yield();
        try
        {
            using var timeout = new CancellationTokenSource(SubscribeTimeout);
            var listener = await _channels.ListenAsync(_channel, OnMessage, timeout.Token);
            lock (_gate)
            {
                if (_disposed) listener.Dispose();
                else _listener = listener;
            }
        }
        // A SUBSCRIBE that outlives the deadline is a RedisTimeoutException, a TimeoutException rather than a RedisException.
        catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
        {
            _logger.LogWarning("Could not subscribe to {What} yet: {Message}", _what, e.Message);
        }
        finally
        {
            lock (_gate) _trying = null;
        }
    }

    private void OnMessage(RedisValue message)
    {
        if (_probe is not null && ((ReadOnlyMemory<byte>)message).Span.SequenceEqual(_probe))
        {
            lock (_gate) _probeOut = false;
            return;
        }
        _onMessage(message);
    }

    private async Task CheckAsync()
    {
        if (Interlocked.Exchange(ref _checking, 1) == 1) return;
        try
        {
            ChannelListener? lost = null;
            lock (_gate)
            {
                if (_disposed) return;
                if (_listener is null || _probe is null)
                {
                    _trying ??= _listener is null ? TryAsync() : null;
                    return;
                }
                if (_probeOut)
                {
                    if (_probeTakenAt == 0 || Stopwatch.GetElapsedTime(_probeTakenAt) < _checkInterval) return;
                    (lost, _listener, _probeOut) = (_listener, null, false);
                }
                else (_probeOut, _probeTakenAt) = (true, 0);
            }
            if (lost is not null)
            {
                _logger.LogWarning("Redis stopped delivering {What} (a probe did not come back within {Interval}); subscribing afresh.",
                    _what, _checkInterval);
                lost.Dispose();
                await EnsureAsync();
                return;
            }
            try
            {
                await _redis.GetSubscriber().PublishAsync(_channel, _probe);
                lock (_gate)
                    if (_probeOut)
                        _probeTakenAt = Stopwatch.GetTimestamp();
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Redis is away: that says nothing of the subscription; the next tick probes again.
                lock (_gate) _probeOut = false;
            }
        }
        catch (Exception e) when (e is ObjectDisposedException)
        {
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription) _ = EnsureAsync();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _timer.Dispose();
        _redis.ConnectionRestored -= OnConnectionRestored;
        lock (_gate)
        {
            _disposed = true;
            _listener?.Dispose();
            _listener = null;
        }
    }
}
