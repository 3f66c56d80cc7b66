using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>
/// Refreshes this node's counts (and so their expiry) every <see cref="PubSubOptions.HeartbeatInterval"/>, and sweeps
/// the registry.
/// </summary>
internal sealed class PubSubHeartbeat(PubSubCounts counts, PubSubRegistry registry, PubSubOptions options, ILogger logger)
{
    /// <summary>Beats until <paramref name="stopping"/>, for the topics <paramref name="topics"/> answers at each beat.</summary>
    public async Task RunAsync(Func<string[]> topics, Func<string, LocalSubscriber[]> members, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(options.HeartbeatInterval);
        while (await timer.WaitForNextTickAsync(stopping))
        {
            var held = topics();
            try
            {
                // The registry lists a topic while some node refreshes it; every node sweeps it, so it holds no topic for long.
                registry.Sweep();
                await Task.WhenAll(held.Select(topic => counts.SyncAsync(topic, members)));
            }
            catch (Exception e) when (e is RedisException or ObjectDisposedException)
            {
                logger.LogWarning("Could not refresh pub/sub subscriber counts: {Message}", e.Message);
            }
        }
    }
}
