using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// Pub/sub's start and shutdown: the count heartbeat runs while the host does, subscriptions end with a notice to reconnect when
/// this node loses Redis or shuts down, and a clean shutdown removes this node's counts at once.
/// </summary>
internal sealed partial class RedisPubSub : IHostedLifecycleService, IAsyncDisposable
{
    private readonly BackgroundWork _work;
    private volatile bool _stopping; // set under the _hubs lock

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _redis.ConnectionFailed += OnConnectionFailed;
        _work.Start("The pub/sub heartbeat", stopping => _heartbeat.RunAsync(Topics, Members, stopping));
        return Task.CompletedTask;
    }

    private string[] Topics()
    {
        lock (_hubs) return [.. _hubs.Keys];
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A clean shutdown, before the server stops: local subscriptions end (so open streams finish and their clients reconnect
    /// elsewhere) and this node's counts go at once.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        TopicHub[] hubs;
        lock (_hubs)
        {
            if (_stopping) return;
            _stopping = true;
            hubs = [.. _hubs.Values];
            _hubs.Clear();
        }
        await _work.StopAsync();
        foreach (var hub in hubs)
            foreach (var member in hub.Members)
                member.End(reason: "this node is shutting down; reconnect (any node) with your last event id");
        try
        {
            await Task.WhenAll(hubs.Select(h => _counts.SyncAsync(h.Topic, Members))).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or OperationCanceledException)
        {
            _logger.LogWarning("Could not remove this node's pub/sub counts on shutdown; they expire within {Expiry}: {Message}",
                _options.NodeExpiry, e.Message);
        }
        await Task.WhenAll(hubs.Select(h => h.CloseAsync()));
    }

    public async ValueTask DisposeAsync() => await StoppingAsync(CancellationToken.None);

    /// <summary>Ends every local subscription with a notice to reconnect; each then leaves its topic as usual.</summary>
    private void EndAll(string reason)
    {
        TopicHub[] hubs;
        lock (_hubs) hubs = [.. _hubs.Values];
        foreach (var hub in hubs)
            foreach (var member in hub.Members)
                member.End(reason: reason);
    }

    // Live messages published while the subscription connection is down never arrive; the subscribers reconnect and replay them.
    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType is not (ConnectionType.Subscription or ConnectionType.Interactive)) return;
        _logger.LogWarning("Pub/sub lost Redis ({Failure}); ending {Count} local subscriptions so their clients reconnect with their " +
            "last event id",
            e.FailureType, _hubs.Count);
        EndAll("this node lost its connection to Redis; reconnect with your last event id (any node, once Redis answers)");
    }
}
