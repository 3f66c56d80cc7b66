using System.Diagnostics;
using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>State as replicas behind a load balancer see it: shared, exact under concurrency, and honest when Redis is down.</summary>
[Trait("Redis", "Cluster")]
public sealed class StateReplicaTests(ReplicaPair replicas) : IClassFixture<ReplicaPair>
{
    // The replicas are shared, so each test uses keys of its own.
    private readonly string _id = Guid.NewGuid().ToString("N");

    [Fact]
    public async Task ConcurrentIncrementsSpreadOverTwoHostsAddUpExactly()
    {
        var (a, b) = (replicas.A, replicas.B);
        HttpClient[] clients = [a.CreateClient(), b.CreateClient()];

        const int perClient = 250;
        var responses = await Task.WhenAll(Enumerable.Range(0, perClient * 2)
            .Select(i => clients[i % 2].PostAsync($"/state/incr/views:/home:{_id}?delta=2", null)));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        var values = await Task.WhenAll(responses.Select(async r => (await r.ReadJsonAsync()).GetProperty("value").GetInt64()));
        Assert.Equal(Enumerable.Range(1, perClient * 2).Select(i => 2L * i), values.Order());
        var final = await (await clients[1].GetAsync($"/state/views:/home:{_id}")).ReadJsonAsync();
        Assert.Equal(perClient * 4, final.GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task ConcurrentReadModifyWriteLoopsWithIfMatchOverTwoHostsEndExact()
    {
        HttpClient[] clients = [replicas.A.CreateClient(), replicas.B.CreateClient()];
        var key = $"cas:{_id}";
        await clients[0].PutAsync($"/state/{key}", Http.Json("{\"n\":0}"));

        const int loops = 200;
        var retries = 0;
        await Task.WhenAll(Enumerable.Range(0, loops).Select(async i =>
        {
            var client = clients[i % 2];
            while (true)
            {
                var read = await client.GetAsync($"/state/{key}");
                var n = (await read.ReadJsonAsync()).GetProperty("value").GetProperty("n").GetInt64();
                var write = new HttpRequestMessage(HttpMethod.Put, $"/state/{key}") { Content = Http.Json($"{{\"n\":{n + 1}}}") };
                write.Headers.IfMatch.Add(read.Headers.ETag!);
                var answer = await client.SendAsync(write);
                if (answer.StatusCode == HttpStatusCode.NoContent) return;
                Assert.Equal(HttpStatusCode.PreconditionFailed, answer.StatusCode);
                Interlocked.Increment(ref retries);
            }
        }));

        var final = await (await clients[1].GetAsync($"/state/{key}")).ReadJsonAsync();
        Assert.Equal(loops, final.GetProperty("value").GetProperty("n").GetInt64());
        Assert.True(retries > 0, "the loops raced: some writes were refused and retried");
    }

    [Fact]
    public async Task AValueSetOnOneHostIsReadOnTheOther()
    {
        var (a, b) = (replicas.A, replicas.B);
        await a.CreateClient().PutAsync($"/state/user:7:{_id}", Http.Json("{\"name\":\"Bo\"}"));
        var got = await (await b.CreateClient().GetAsync($"/state/user:7:{_id}")).ReadJsonAsync();
        Assert.Equal("Bo", got.GetProperty("value").GetProperty("name").GetString());
    }

    [Fact]
    public async Task RedisDownGivesAFast503AndTheServiceRecoversWhenRedisReturns()
    {
        using var redis = await LocalRedisProcess.StartAsync();
        await using var api = new HornbeamApiFactory(redis.ConnectionString, TestPrefix.New());
        var client = api.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/state/incr/up", null)).StatusCode);

        redis.Stop();
        await Poll.UntilAsync(async () => (await client.PostAsync("/state/incr/up", null)).StatusCode == HttpStatusCode.ServiceUnavailable,
            because: "requests fail with 503 once Redis is gone");
        var clock = Stopwatch.StartNew();
        var down = await client.GetAsync("/state/up");
        clock.Stop();
        await down.AssertProblemAsync(503, ProblemTypes.RedisUnavailable);
        Assert.True(down.Headers.RetryAfter is not null, "a 503 says when to retry");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"503 took {clock.Elapsed}, not fast");

        await redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.PostAsync("/state/incr/up", null)).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20), "the service reconnects by itself");
    }

    [Fact]
    public async Task TheServiceStartsWhileRedisIsDownAndServesOnceItIsUp()
    {
        var port = LocalRedisProcess.FreePort();
        await using var api = new HornbeamApiFactory($"127.0.0.1:{port}", TestPrefix.New());
        var client = api.CreateClient();
        await (await client.GetAsync("/state/x")).AssertProblemAsync(503, ProblemTypes.RedisUnavailable);

        using var redis = await LocalRedisProcess.StartAsync(port);
        await Poll.UntilAsync(async () => (await client.PostAsync("/state/incr/x", null)).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20), "the service connects once Redis appears");
    }
}
