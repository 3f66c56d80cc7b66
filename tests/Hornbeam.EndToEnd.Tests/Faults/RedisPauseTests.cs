using System.Diagnostics;
using Hornbeam.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Hornbeam.Tests.Faults;

/// <summary>
/// A single redis-server frozen (SIGSTOP) for longer than <c>Hornbeam:Redis:DeadlineMs</c> under increments through three
/// replicas, then let run again (SIGCONT): it then applies what had reached it while frozen.
/// </summary>
[Collection(FaultSuite.Name)]
public sealed class RedisPauseTests(RedisPauseTests.Topology topology, ITestOutputHelper output)
    : IClassFixture<RedisPauseTests.Topology>
{
    private const int DeadlineMs = 1000;

    /// <summary>What an answer may take beyond the deadline: the HTTP round trip on a busy machine.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan Frozen = TimeSpan.FromMilliseconds(4 * DeadlineMs);

    public sealed class Topology : FaultTopology
    {
        public LocalRedisProcess Redis { get; private set; } = null!;

        protected override async Task<string> StartRedisAsync()
        {
            Redis = await LocalRedisProcess.StartAsync();
            return Redis.ConnectionString;
        }

        protected override IDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Hornbeam:Redis:WaitReplicas"] = "0",
            ["Hornbeam:Redis:DeadlineMs"] = DeadlineMs.ToString(),
        };

        protected override void StopRedis() => Redis?.Dispose();
    }

    [Fact]
    public async Task AFrozenRedisGetsEveryRequestAnAnswerWithinTheDeadlineAndAppliesNoneBeyondTheUnknowns()
    {
        var load = new IncrementLoad(topology.Replicas, "faults:pause");
        var frozenFor = TimeSpan.Zero;
        load.Start(FaultSuite.Clients, FaultSuite.LoadAtMost);
        try
        {
            await load.WaitForMoreAsync(FaultSuite.Acknowledgements, IncrementOutcome.Acknowledged, FaultSuite.Step,
                "increments succeed before the fault");
            load.Phase = "Redis frozen";
            await topology.Redis.PauseAsync();
            var frozen = Stopwatch.StartNew();
            try
            {
                // Frozen for several deadlines, and long enough that every client has had requests answered meanwhile.
                var before = load.Answers.Count;
                await Poll.UntilAsync(
                    () => Task.FromResult(frozen.Elapsed >= Frozen && load.Answers.Count >= before + 2 * FaultSuite.Clients),
                    FaultSuite.Step, "requests are answered while Redis is frozen");
            }
            finally
            {
                await topology.Redis.ResumeAsync();
                load.Phase = "Redis resumed";
            }
            frozenFor = frozen.Elapsed;
            output.WriteLine($"redis-server frozen for {frozen.ElapsedMilliseconds} ms with Hornbeam:Redis:DeadlineMs={DeadlineMs}");
            await load.WaitForMoreAsync(FaultSuite.Acknowledgements, IncrementOutcome.Acknowledged, FaultSuite.Step,
                "increments succeed after the freeze");
        }
        catch
        {
            load.WriteCounts(output, "Redis frozen");
            throw;
        }
        finally
        {
            await load.StopAsync();
        }

        await load.WaitUntilAcknowledgedByAsync(topology.Replicas, FaultSuite.Step);
        load.AssertExactlyOnce(await load.ReadAsync(topology.Replicas[0]), output,
            $"Redis frozen {frozenFor.TotalSeconds:F1} s (DeadlineMs={DeadlineMs})");
        load.AssertAnsweredWithin(TimeSpan.FromMilliseconds(DeadlineMs), Slack);
    }
}
