using System.Diagnostics;
using System.Net;
using Hornbeam.Redis;
using Hornbeam.Tests.Faults;
using Hornbeam.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Hornbeam.Tests.Health;

/// <summary>
/// On a Redis Cluster whose master fails over to its replica, ready follows what requests see: 503 while the master's
/// slots cannot be written, 200 again as soon as writes to them succeed, judged by the cluster's current slot map.
/// </summary>
// One topology at a time: a failover measured beside another topology's processes starves both (see FaultSuite).
[Collection(FaultSuite.Name)]
public sealed class ReadinessClusterFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ReadyReturnsWithinAFewSecondsOfTheFirstIncrementThatSucceedsAfterAMasterFailsOver()
    {
        using var cluster = await LocalRedisCluster.StartAsync(masters: 3, replicasPerMaster: 1);
        var prefix = TestPrefix.New();
        await using var api = new HornbeamApiFactory(cluster.ConnectionString, prefix);
        var client = api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "ready on the healthy cluster");

        // The counter's key lives on the master that is stopped, so its increments fail until the replica takes over.
        const string counter = "failover-counter";
        var master = await MasterOwningAsync(cluster, new RedisKeys(prefix).StateValue(counter));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/state/incr/{counter}", null)).StatusCode);
        await master.TerminateAsync();

        var clock = Stopwatch.StartNew();
        TimeSpan? notReadySeen = null, incremented = null, ready = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(60) && (incremented is null || ready is null))
        {
            var readiness = client.GetAsync("/health/ready");
            var increment = client.PostAsync($"/state/incr/{counter}", null);
            var (readyNow, incrementedNow) = ((await readiness).StatusCode, (await increment).StatusCode);
            if (readyNow == HttpStatusCode.ServiceUnavailable) notReadySeen ??= clock.Elapsed;
            if (incrementedNow == HttpStatusCode.OK) incremented ??= clock.Elapsed;
            if (readyNow == HttpStatusCode.OK && notReadySeen is not null) ready ??= clock.Elapsed;
            await Task.Delay(50);
        }
        output.WriteLine($"after the master stopped: ready 503 at {notReadySeen?.TotalMilliseconds:0} ms, first INCR 200 at " +
                         $"{incremented?.TotalMilliseconds:0} ms, ready 200 again at {ready?.TotalMilliseconds:0} ms");
        Assert.NotNull(notReadySeen);
        Assert.NotNull(incremented);
        Assert.NotNull(ready);
        Assert.True(ready - incremented < TimeSpan.FromSeconds(2),
            $"ready came back {(ready - incremented)!.Value.TotalMilliseconds:0} ms after increments succeeded again");
    }

    private static async Task<LocalRedisProcess> MasterOwningAsync(LocalRedisCluster cluster, RedisKey key)
    {
        await using var probe = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString + ",allowAdmin=true");
        var configuration = (await probe.GetServers().First(s => s.IsConnected).ClusterNodesAsync())!;
        var owner = configuration.GetBySlot(probe.HashSlot(key))!;
        return cluster.Nodes.Single(n => owner.EndPoint!.ToString()!.EndsWith(":" + n.Port));
    }
}
