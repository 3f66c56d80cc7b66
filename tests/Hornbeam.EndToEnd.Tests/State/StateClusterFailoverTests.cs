using System.Collections.Concurrent;
using System.Net;
using Hornbeam.Tests.Faults;
using Hornbeam.Tests.Infrastructure;
using StackExchange.Redis;

namespace Hornbeam.Tests.State;

/// <summary>
/// On a Redis Cluster whose master fails over to its replica, Hornbeam fails fast meanwhile and keeps every acknowledged
/// write.
/// </summary>
// One topology at a time: a failover measured beside another topology's processes starves both (see FaultSuite).
[Collection(FaultSuite.Name)]
public sealed class StateClusterFailoverTests
{
    [Fact]
    public async Task StoppingAMasterFailsRequestsFastAndKeepsEveryAcknowledgedWrite()
    {
        using var cluster = await LocalRedisCluster.StartAsync(masters: 3, replicasPerMaster: 1);
        await using var api = new HornbeamApiFactory(cluster.ConnectionString, TestPrefix.New());
        var client = api.CreateClient();
        var master = await MasterOfAnySlotAsync(cluster);

        var acknowledged = new ConcurrentDictionary<string, long>();
        var failed = 0;
        var stopped = false;
        var deadline = DateTime.UtcNow.AddSeconds(25);
        await Parallel.ForAsync(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            if (DateTime.UtcNow > deadline) return;
            var key = $"fo:{i % 64}";
            var response = await client.PostAsync($"/state/incr/{key}", null);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var value = (await response.ReadJsonAsync()).GetProperty("value").GetInt64();
                acknowledged.AddOrUpdate(key, value, (_, old) => Math.Max(old, value));
            }
            else
            {
                Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable,
                    $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                Interlocked.Increment(ref failed);
            }
            if (i == 400 && !stopped)
            {
                stopped = true;
                await master.TerminateAsync();
            }
        });
        Assert.True(stopped);

        await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(async () => (await client.PostAsync("/state/incr/fo:after", null)).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "requests succeed again after the failover, without a restart");
        foreach (var (key, highest) in acknowledged)
        {
            // fo:after's slot being served again says nothing of this key's: its master may be the one that failed
            // over, and the client learns the new map on its next MOVED or refresh, answering 503 meanwhile.
            HttpResponseMessage? read = null;
            await Poll.UntilAsync(async () =>
            {
                read = await client.GetAsync($"/state/{key}");
                return read.StatusCode != HttpStatusCode.ServiceUnavailable;
            }, TimeSpan.FromSeconds(30), $"{key} is readable after the failover");
            Assert.True(read!.StatusCode == HttpStatusCode.OK,
                $"{key}: acknowledged {highest}, read {(int)read.StatusCode}: {await read.Content.ReadAsStringAsync()}");
            var stored = (await read.ReadJsonAsync()).GetProperty("value").GetInt64();
            Assert.True(stored >= highest, $"{key}: acknowledged {highest}, stored {stored}");
        }
        Assert.True(failed < 4000, $"{failed} requests failed");
    }

    private static async Task<LocalRedisProcess> MasterOfAnySlotAsync(LocalRedisCluster cluster)
    {
        await using var probe = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString + ",allowAdmin=true");
        var master = probe.GetServers().First(s => !s.IsReplica);
        return cluster.Nodes.Single(n => master.EndPoint.ToString()!.EndsWith(":" + n.Port));
    }
}
