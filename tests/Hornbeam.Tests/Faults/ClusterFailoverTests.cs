using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Hornbeam.Tests.Faults;

/// <summary>
/// Redis Cluster (three masters, one replica each) under increments through three replicas with <c>WaitReplicas=1</c>:
/// the master holding the counter is killed and its replica takes over.
/// </summary>
[Collection(FaultSuite.Name)]
public sealed class ClusterFailoverTests(ClusterFailoverTests.Topology topology, ITestOutputHelper output)
    : IClassFixture<ClusterFailoverTests.Topology>
{
    public sealed class Topology : FaultTopology
    {
        public LocalRedisCluster Redis { get; private set; } = null!;

        protected override async Task<string> StartRedisAsync()
        {
            Redis = await LocalRedisCluster.StartAsync(masters: 3, replicasPerMaster: 1);
            return Redis.ConnectionString;
        }

        protected override IDictionary<string, string> Settings => new Dictionary<string, string> { ["Hornbeam:Redis:WaitReplicas"] = "1" };

        protected override void StopRedis() => Redis?.Dispose();
    }

    [Fact]
    public async Task KillingTheCountersMasterLosesNoAcknowledgedIncrementAndAppliesNoneBeyondTheUnknowns()
    {
        var load = new IncrementLoad(topology.Replicas, "faults:cluster");
        var master = await MasterOfAsync(new RedisKeys(topology.Prefix).StateValue(load.Key));
        load.Start(FaultSuite.Clients, FaultSuite.LoadAtMost);
        try
        {
            await load.WaitForMoreAsync(FaultSuite.Acknowledgements, IncrementOutcome.Acknowledged, FaultSuite.Step, "increments succeed before the fault");
            load.Phase = "master killed";
            master.Stop();
            output.WriteLine($"master {master.Port} of the counter's slot killed");
            await topology.Redis.WaitUntilHealthyAsync(FaultSuite.Step);
            load.Phase = "cluster ok again";
            await load.WaitForMoreAsync(FaultSuite.Acknowledgements, IncrementOutcome.Acknowledged, FaultSuite.Step, "increments succeed after the failover");
        }
        finally
        {
            await load.StopAsync();
        }

        await load.WaitUntilAcknowledgedByAsync(topology.Replicas, FaultSuite.Step);
        load.AssertExactlyOnce(await load.ReadAsync(topology.Replicas[0]), output, "Redis Cluster failover (WaitReplicas=1)");
    }

    private async Task<LocalRedisProcess> MasterOfAsync(RedisKey key)
    {
        await using var probe = await ConnectionMultiplexer.ConnectAsync(topology.Redis.ConnectionString);
        var endpoint = await probe.GetDatabase().IdentifyEndpointAsync(key);
        return topology.Redis.Nodes.Single(n => endpoint!.ToString()!.EndsWith(":" + n.Port));
    }
}
