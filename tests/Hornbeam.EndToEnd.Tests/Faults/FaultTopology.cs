using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Faults;

/// <summary>
/// A fault test class's fixture: a Redis topology of the class's choosing and <see cref="FaultSuite.Replicas"/> Hornbeam
/// replicas as processes on it, sharing one key prefix as replicas behind a load balancer do.
/// </summary>
public abstract class FaultTopology : IAsyncLifetime
{
    public string Prefix { get; } = TestPrefix.New();

    public IReadOnlyList<ApiProcess> Replicas { get; private set; } = [];

    /// <summary>Starts the Redis topology; answers Hornbeam's connection string for it.</summary>
    protected abstract Task<string> StartRedisAsync();

    /// <summary>Hornbeam settings (configuration keys) for every replica.</summary>
    protected abstract IDictionary<string, string> Settings { get; }

    protected abstract void StopRedis();

    public async Task InitializeAsync()
    {
        var redis = await StartRedisAsync();
        Replicas = await Task.WhenAll(Enumerable.Range(1, FaultSuite.Replicas)
            .Select(i => ApiProcess.StartAsync($"api{i}", redis, Prefix, Settings)));
    }

    public Task DisposeAsync()
    {
        foreach (var replica in Replicas) replica.Dispose();
        StopRedis();
        return Task.CompletedTask;
    }
}
