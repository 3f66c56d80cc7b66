using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// A subscription a service needs for as long as it runs (<see cref="RedisChannels.Keep"/>): while Redis refuses it, it
/// is tried again at each <see cref="EnsureAsync"/> and when the connection is restored. Dispose it to leave.
/// </summary>
internal sealed class KeptSubscription : IDisposable
{
    private readonly Lock _gate = new();
    private readonly RedisChannels _channels;
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisChannel _channel;
    private readonly Action<RedisValue> _onMessage;
    private readonly string _what;
    private readonly ILogger _logger;
    private ChannelListener? _listener;
    private Task? _trying;
    private bool _disposed;

    internal KeptSubscription(RedisChannels channels, IConnectionMultiplexer redis, RedisChannel channel, Action<RedisValue> onMessage,
        string what, ILogger logger)
    {
        (_channels, _redis, _channel, _onMessage, _what, _logger) = (channels, redis, channel, onMessage, what, logger);
        redis.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>Whether Redis has confirmed the subscription.</summary>
    public bool IsSubscribed => Volatile.Read(ref _listener) is not null;

    /// <summary>Subscribes unless subscribed already; a refusal is logged, not thrown, and the next call tries again.</summary>
    public Task EnsureAsync()
    {
        lock (_gate) return _listener is not null || _disposed ? Task.CompletedTask : _trying ??= TryAsync();
    }

    private async Task TryAsync()
    {
        try
        {
            var listener = await _channels.ListenAsync(_channel, _onMessage);
            lock (_gate)
            {
                if (_disposed) listener.Dispose();
                else _listener = listener;
            }
        }
        // A SUBSCRIBE that outlives the deadline is a RedisTimeoutException, a TimeoutException rather than a RedisException.
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            _logger.LogWarning("Could not subscribe to {What} yet: {Message}", _what, e.Message);
        }
        finally
        {
            lock (_gate) _trying = null;
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription) _ = EnsureAsync();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _redis.ConnectionRestored -= OnConnectionRestored;
        lock (_gate)
        {
            _disposed = true;
            _listener?.Dispose();
            _listener = null;
        }
    }
}
