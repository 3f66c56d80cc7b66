using System.Diagnostics;
using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Redis;

/// <summary>
/// Hornbeam:Redis:WaitReplicas: a write is answered 200 only once that many replicas hold it; otherwise the answer says
/// the outcome is unknown, and a retry with the same Idempotency-Key does not apply it again.
/// </summary>
public sealed class WaitReplicasTests(WaitReplicasTests.MasterAndReplica redis) : IClassFixture<WaitReplicasTests.MasterAndReplica>
{
    /// <summary>
    /// A master with one replica, and three hosts on one key prefix: one that waits for the replica, one that waits for
    /// two replicas (which never confirm), one that does not wait.
    /// </summary>
    public sealed class MasterAndReplica : IAsyncLifetime
    {
        private LocalRedisProcess _master = null!, _replica = null!;
        private HornbeamApiFactory _one = null!, _two = null!, _none = null!;

        public HttpClient WaitsForOne { get; private set; } = null!;
        public HttpClient WaitsForTwo { get; private set; } = null!;
        public HttpClient WaitsForNone { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            _master = await LocalRedisProcess.StartAsync();
            _replica = await LocalRedisProcess.StartAsync(null, "--replicaof", "127.0.0.1", _master.Port.ToString());
            var prefix = TestPrefix.New();
            _one = Host(prefix, 1);
            _two = Host(prefix, 2);
            _none = Host(prefix, 0);
            WaitsForOne = _one.CreateClient();
            WaitsForTwo = _two.CreateClient();
            WaitsForNone = _none.CreateClient();
            // The replica has caught up once a write through the host that waits for it succeeds.
            await Poll.UntilAsync(async () => (await WaitsForOne.PostAsync("/state/incr/ready", null)).StatusCode == HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), "the replica confirms writes");
        }

        private HornbeamApiFactory Host(string prefix, int replicas) => new(_master.ConnectionString, prefix,
            new Dictionary<string, string?> { ["Hornbeam:Redis:WaitReplicas"] = replicas.ToString() });

        public async Task DisposeAsync()
        {
            await _one.DisposeAsync();
            await _two.DisposeAsync();
            await _none.DisposeAsync();
            _replica.Dispose();
            _master.Dispose();
        }
    }

    private static HttpRequestMessage Incr(string counter, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/state/incr/{counter}");
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    private static async Task<long> ValueAsync(HttpClient client, string key) =>
        (await (await client.GetAsync($"/state/{key}")).ReadJsonAsync()).GetProperty("value").GetInt64();

    [Fact]
    public async Task AWriteTheReplicaConfirmsAnswers200()
    {
        var counter = $"wait:{Guid.NewGuid():N}";
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => redis.WaitsForOne.PostAsync($"/state/incr/{counter}", null)));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        Assert.Equal(50, await ValueAsync(redis.WaitsForNone, counter));
    }

    [Fact]
    public async Task AnUnconfirmedIncrementAnswersOutcomeUnknownWithinTheDeadlineAndItsRetryDoesNotApplyAgain()
    {
        var counter = $"wait:{Guid.NewGuid():N}";
        var key = Guid.NewGuid().ToString();
        var clock = Stopwatch.StartNew();
        var unknown = await redis.WaitsForTwo.SendAsync(Incr(counter, key));
        clock.Stop();
        var problem = await unknown.AssertProblemAsync(503, HornbeamErrors.Type(HornbeamError.OutcomeUnknown));
        Assert.Contains("WaitReplicas", problem.GetProperty("detail").GetString());
        Assert.True(unknown.Headers.RetryAfter is not null, "a 503 says when to retry");
        Assert.True(clock.ElapsedMilliseconds < 2000 + 1000, $"answered after {clock.ElapsedMilliseconds} ms, past the 2 s deadline");

        // It did apply on the master; retries with the same key, unconfirmed or confirmed, never apply it again.
        Assert.Equal(1, await ValueAsync(redis.WaitsForNone, counter));
        await (await redis.WaitsForTwo.SendAsync(Incr(counter, key)))
            .AssertProblemAsync(503, HornbeamErrors.Type(HornbeamError.OutcomeUnknown));
        var confirmed = await redis.WaitsForOne.SendAsync(Incr(counter, key));
        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        Assert.Equal(1, (await confirmed.ReadJsonAsync()).GetProperty("value").GetInt64());
        Assert.Equal(1, await ValueAsync(redis.WaitsForNone, counter));
    }

    [Fact]
    public async Task AnUnconfirmedSetAnswersOutcomeUnknownWhileReadsAnswerAsUsual()
    {
        var key = $"wait:{Guid.NewGuid():N}";
        var set = await redis.WaitsForTwo.PutAsync($"/state/{key}", Http.Json("{\"a\":1}"));
        await set.AssertProblemAsync(503, HornbeamErrors.Type(HornbeamError.OutcomeUnknown));
        var read = await redis.WaitsForTwo.GetAsync($"/state/{key}");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(1, (await read.ReadJsonAsync()).GetProperty("value").GetProperty("a").GetInt32());
    }
}
