using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.State;

/// <summary>
/// Takes expired keys out of the state index now and then, so keys given a lifetime that nobody lists do not pile up
/// there. Every replica sweeps; a sweep that finds nothing due costs one short script per bucket.
/// </summary>
internal sealed class StateExpirySweep(IConnectionMultiplexer redis, RedisKeys keys, ILogger<StateExpirySweep> logger) : IHostedService
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(30);
    private readonly BackgroundWork _work = new(logger);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _work.Start("The sweep of expired state keys", LoopAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _work.StopAsync(cancellationToken);

    private async Task LoopAsync(CancellationToken stopping)
    {
        // Replicas started together would otherwise sweep at the same moments.
        await Task.Delay(Every * Random.Shared.NextDouble(), stopping);
        using var timer = new PeriodicTimer(Every);
        do
        {
            try
            {
                await SweepAsync(stopping);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                logger.LogDebug("The sweep of expired state keys waits for Redis: {Message}", e.Message);
            }
        } while (await timer.WaitForNextTickAsync(stopping));
    }

    /// <summary>Sweeps every bucket until none has a full batch due.</summary>
    internal async Task SweepAsync(CancellationToken stopping)
    {
        var db = redis.GetDatabase();
        for (var b = 0; b < RedisKeys.StateBuckets; b++)
            while (!stopping.IsCancellationRequested && (int)await db.ScriptEvaluateAsync(RedisScripts.StateSweep,
                       [keys.StateIndexes[b], keys.StateExpiries[b]], [keys.StateValuePrefix(b), StateStore.SweepBatch]) ==
                   StateStore.SweepBatch)
            {
            }
    }
}
