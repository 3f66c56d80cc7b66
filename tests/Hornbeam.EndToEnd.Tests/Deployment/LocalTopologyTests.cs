using System.Collections.Concurrent;
using System.Net;
using Hornbeam.Tests.Faults;
using Hornbeam.Tests.Infrastructure;
using Hornbeam.Tests.PubSub;

namespace Hornbeam.Tests.Deployment;

/// <summary>End to end through nginx, as users behind the load balancer see Hornbeam.</summary>
// One topology at a time: a failover measured beside another topology's processes starves both (see FaultSuite).
[Collection(FaultSuite.Name)]
public sealed class LocalTopologyTests(LocalTopology topology) : IClassFixture<LocalTopology>
{
    [Fact]
    public async Task IncrementsSpreadOverTheReplicasAddUpExactly()
    {
        var key = $"e2e:{Guid.NewGuid():N}";
        var responses = await Task.WhenAll(Enumerable.Range(0, 300).Select(_ => topology.Client.PostAsync($"/state/incr/{key}", null)));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        for (var replica = 1; replica <= 3; replica++)
        {
            using var direct = topology.ReplicaClient(replica);
            Assert.Equal(300, (await (await direct.GetAsync($"/state/{key}")).ReadJsonAsync()).GetProperty("value").GetInt64());
        }
    }

    [Fact]
    public async Task KillingAReplicaLosesNoAcknowledgedWrite()
    {
        var key = $"e2e:{Guid.NewGuid():N}";
        var acknowledged = new ConcurrentBag<long>();
        var attempts = 0;
        var killed = false;
        await Parallel.ForAsync(0, 600, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            try
            {
                var response = await topology.Client.PostAsync($"/state/incr/{key}", null);
                if (response.StatusCode == HttpStatusCode.OK)
                    acknowledged.Add((await response.ReadJsonAsync()).GetProperty("value").GetInt64());
            }
            catch (HttpRequestException)
            {
                // Not acknowledged: the client may retry; the test only holds acknowledged writes to account.
            }
            if (acknowledged.Count >= 150 && !killed)
            {
                killed = true;
                await topology.KillReplicaAsync(2);
            }
        });
        Assert.True(killed);

        var final = (await (await topology.Client.GetAsync($"/state/{key}")).ReadJsonAsync()).GetProperty("value").GetInt64();
        Assert.Equal(acknowledged.Count, acknowledged.Distinct().Count());
        Assert.True(acknowledged.Count >= 500, $"only {acknowledged.Count} of 600 increments were acknowledged with one replica down");
        Assert.True(final >= acknowledged.Count && final <= attempts,
            $"final {final}, acknowledged {acknowledged.Count}, attempts {attempts}");
        Assert.All(acknowledged, v => Assert.True(v <= final));
        await topology.RestartReplicaAsync(2);
    }

    [Fact]
    public async Task AnOversizedBodyGets413FromTheReplicaWithoutReadingIt()
    {
        using var replica = topology.ReplicaClient(1);
        // As a careful client sends a large body: it asks first (Expect: 100-continue) and waits for the answer, here the
        // 413, instead of writing 3 MB into a connection the replica closes after answering (a broken pipe under load).
        using var direct = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = replica.BaseAddress,
        };
        foreach (var header in replica.DefaultRequestHeaders) direct.DefaultRequestHeaders.Add(header.Key, header.Value);
        var body = new ByteArrayContent(new byte[3 * 1024 * 1024]);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/pubsub/big") { Content = body };
        request.Headers.ExpectContinue = true;
        var response = await direct.SendAsync(request);
        await response.AssertProblemAsync(413, Hornbeam.Api.Problems.ProblemTypes.TooLarge);
    }

    [Fact]
    public async Task AnSseSubscriberThroughNginxReceivesWhatEveryReplicaPublishes()
    {
        var topic = $"e2e:{Guid.NewGuid():N}";
        await using var sse = await SseStream.OpenAsync(topology.Client, $"/pubsub/{topic}");
        for (var replica = 1; replica <= 3; replica++)
        {
            using var publisher = topology.ReplicaClient(replica);
            var published = await (await publisher.PostAsync($"/pubsub/{topic}", Http.Json($"{{\"from\":{replica}}}"))).ReadJsonAsync();
            Assert.Equal(1, published.GetProperty("subscribers").GetInt64());
        }
        var events = await sse.TakeAsync(3);
        Assert.Equal([1, 2, 3], events.Select(e => e.Json.GetProperty("from").GetInt32()));
    }

    [Fact]
    public async Task RpcCrossesReplicas()
    {
        using var api1 = topology.ReplicaClient(1);
        await Poll.UntilAsync(
            async () => (await (await api1.GetAsync("/nodes")).ReadJsonAsync()).GetProperty("nodes").GetArrayLength() >= 2,
            TimeSpan.FromSeconds(20), "api1 sees the other replicas");
        var reply = await api1.PostAsync("/rpc/api3/hornbeam/node_info", Http.Json("{\"args\": []}"));
        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        Assert.Equal("api3", (await reply.ReadJsonAsync()).GetProperty("result").GetProperty("node").GetString());
        var throughNginx = await (await topology.Client.PostAsync("/rpc/api2/hornbeam/ping", Http.Json("{\"args\": []}"))).ReadJsonAsync();
        Assert.Equal("pong", throughNginx.GetProperty("result").GetString());
    }
}
