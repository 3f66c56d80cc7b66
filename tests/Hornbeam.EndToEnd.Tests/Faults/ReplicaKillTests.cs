using Hornbeam.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Hornbeam.Tests.Faults;

/// <summary>
/// One of three Hornbeam replicas SIGKILLed under increments: the others keep answering, and the requests that were
/// in flight on the dead one are the only ones without an answer.
/// </summary>
[Collection(FaultSuite.Name)]
public sealed class ReplicaKillTests(ReplicaKillTests.Topology topology, ITestOutputHelper output)
    : IClassFixture<ReplicaKillTests.Topology>
{
    public sealed class Topology : FaultTopology
    {
        public LocalRedisProcess Redis { get; private set; } = null!;

        protected override async Task<string> StartRedisAsync()
        {
            Redis = await LocalRedisProcess.StartAsync();
            return Redis.ConnectionString;
        }

        protected override IDictionary<string, string> Settings => new Dictionary<string, string> { ["Hornbeam:Redis:WaitReplicas"] = "0" };

        protected override void StopRedis() => Redis?.Dispose();
    }

    [Fact]
    public async Task KillingAReplicaUnderLoadLeavesTheOthersAnsweringAndLosesNoAcknowledgedIncrement()
    {
        var load = new IncrementLoad(topology.Replicas, "faults:replica-kill");
        var victim = topology.Replicas[1];
        var survivors = topology.Replicas.Where(r => r != victim).ToList();
        load.Start(FaultSuite.Clients, FaultSuite.LoadAtMost);
        try
        {
            await load.WaitForMoreAsync(FaultSuite.Acknowledgements, IncrementOutcome.Acknowledged, FaultSuite.Step,
                "increments succeed before the fault");
            // As a load balancer would once its health check fails; requests already sent to the victim stay in flight.
            load.Phase = "replica killed";
            load.Exclude(victim);
            victim.Kill();
            output.WriteLine($"{victim.Name} killed");
            await load.WaitForMoreAsync(FaultSuite.Acknowledgements, IncrementOutcome.Acknowledged, FaultSuite.Step,
                "the other replicas keep answering");
        }
        catch
        {
            load.WriteCounts(output, "Hornbeam replica SIGKILLed");
            throw;
        }
        finally
        {
            await load.StopAsync();
        }

        await load.WaitUntilAcknowledgedByAsync(survivors, FaultSuite.Step);
        load.AssertExactlyOnce(await load.ReadAsync(survivors[0]), output, $"Hornbeam replica SIGKILLed ({victim.Name})",
            noAnswerAllowed: true);
        var noAnswer = load.Answers.Where(a => a.Outcome == IncrementOutcome.NoAnswer).ToList();
        Assert.All(noAnswer, a => Assert.Equal(victim.Name, a.Replica));
        Assert.True(noAnswer.Count <= FaultSuite.Clients, $"{noAnswer.Count} requests got no answer, more than were in flight");
        Assert.True(load.Answers.Count(a => a.Replica != victim.Name && a.Outcome != IncrementOutcome.Acknowledged) == 0,
            "the surviving replicas answered every request with 200");
    }
}
