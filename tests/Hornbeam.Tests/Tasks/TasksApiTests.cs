using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Redis;
using Hornbeam.Tests.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Tasks;

/// <summary>execute_async and await_result across replicas: shared state in Redis, woken waiters, dead nodes.</summary>
[Trait("Redis", "Cluster")]
public sealed class TasksApiTests(TasksApiTests.TwoReplicas replicas) : IClassFixture<TasksApiTests.TwoReplicas>
{
    /// <summary>
    /// Two hosts on one key prefix with the test hooks, shared by the tests that neither stop a host nor change a
    /// setting; every task has an id of its own, so they do not meet.
    /// </summary>
    public sealed class TwoReplicas : IAsyncLifetime
    {
        public string Prefix { get; } = TestPrefix.New();
        public HornbeamApiFactory A { get; private set; } = null!;
        public HornbeamApiFactory B { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            A = await StartAsync(Prefix);
            B = await StartAsync(Prefix);
        }

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }

    private static Task<HornbeamApiFactory> StartAsync(string prefix, IDictionary<string, string?>? settings = null) =>
        HornbeamApiFactory.StartAsync(prefix, settings, TestHookSetup.Register);

    private static async Task<string> StartTaskAsync(HttpClient client, string path, string body)
    {
        var response = await client.PostAsync(path, Http.Json(body));
        var json = await response.ReadJsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {json}");
        var id = json.GetProperty("task_id").GetString()!;
        Assert.Equal($"/tasks/{id}", response.Headers.Location?.OriginalString);
        Assert.Matches("^[0-9a-f]{32}$", id);
        return id;
    }

    [Fact]
    public async Task ATaskStartedOnOneReplicaIsAwaitedOnAnotherAndAWaitThatTimesOutLeavesItToBeAwaitedAgain()
    {
        var (a, b) = (replicas.A, replicas.B);
        var gate = Gates.New();
        var id = await StartTaskAsync(a.CreateClient(), "/hooks/gate/open/async", $$"""{"args": ["{{gate}}"]}""");

        var waiting = await b.CreateClient().GetAsync($"/tasks/{id}?timeout_ms=100");
        Assert.Equal(HttpStatusCode.Accepted, waiting.StatusCode);
        Assert.Equal("running", (await waiting.ReadJsonAsync()).GetProperty("status").GetString());

        var later = b.CreateClient().GetAsync($"/tasks/{id}?timeout_ms=10000");
        Gates.For(gate).SetResult(JsonSerializer.SerializeToElement(new { answer = 42 }));
        var clock = Stopwatch.StartNew();
        var done = await later;
        var json = await done.ReadJsonAsync();
        Assert.True(done.StatusCode == HttpStatusCode.OK, json.ToString());
        Assert.Equal("succeeded", json.GetProperty("status").GetString());
        Assert.Equal(42, json.GetProperty("result").GetProperty("answer").GetInt32());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a waiter is woken by the notification, not a poll ({clock.Elapsed})");

        // A finished task can be read again, at once, from any replica.
        Assert.Equal(HttpStatusCode.OK, (await a.CreateClient().GetAsync($"/tasks/{id}?timeout_ms=0")).StatusCode);
    }

    [Fact]
    public async Task ManyWaitersOnOneTaskAllGetTheResult()
    {
        var (a, b) = (replicas.A, replicas.B);
        var gate = Gates.New();
        var id = await StartTaskAsync(a.CreateClient(), "/hooks/gate/open/async", $$"""{"args": ["{{gate}}"]}""");
        HttpClient[] clients = [a.CreateClient(), b.CreateClient()];
        var waiters = Enumerable.Range(0, 10).Select(i => clients[i % 2].GetAsync($"/tasks/{id}?timeout_ms=10000")).ToArray();
        var api = a.Services.GetRequiredService<IHooks>();
        var coreWaiter = api.AwaitResultAsync(id, TimeSpan.FromSeconds(10));
        Gates.For(gate).SetResult(JsonSerializer.SerializeToElement("ok"));
        foreach (var response in await Task.WhenAll(waiters))
            Assert.Equal("ok", (await response.ReadJsonAsync()).GetProperty("result").GetString());
        Assert.Equal("ok", (await coreWaiter).GetResultOrThrow().GetString());
    }

    [Fact]
    public async Task AFailedTaskAnswersAProblemCarryingTheHandlersError()
    {
        var api = replicas.A;
        var client = api.CreateClient();
        var id = await StartTaskAsync(client, "/hooks/embeddings/fail/async", """{"args": ["out of memory"]}""");
        var problem = await (await client.GetAsync($"/tasks/{id}?timeout_ms=10000")).AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        Assert.Contains("out of memory", problem.GetProperty("detail").GetString());
        Assert.Equal("failed", problem.GetProperty("task_status").GetString());
        Assert.Equal(id, problem.GetProperty("task_id").GetString());
    }

    [Fact]
    public async Task UnknownHooksActionsAndTasksAre404AndBadTimeoutsAre400()
    {
        var api = replicas.A;
        var client = api.CreateClient();
        await (await client.PostAsync("/hooks/nope/x/async", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync("/hooks/embeddings/decode/async", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.GetAsync($"/tasks/{new string('a', 32)}")).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.GetAsync("/tasks/not-a-task")).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.GetAsync($"/tasks/{new string('a', 32)}?timeout_ms=-1")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task ResultsExpireAfterTheRetention()
    {
        await using var api = await StartAsync(TestPrefix.New(),
            new Dictionary<string, string?> { ["Hornbeam:Tasks:RetentionSeconds"] = "1" });
        var client = api.CreateClient();
        var id = await StartTaskAsync(client, "/hooks/echo/add/async", """{"args": [1]}""");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/tasks/{id}?timeout_ms=5000")).StatusCode);
        await Poll.UntilAsync(async () => (await client.GetAsync($"/tasks/{id}?timeout_ms=0")).StatusCode == HttpStatusCode.NotFound,
            TimeSpan.FromSeconds(5), "the result expires");
    }

    [Fact]
    public async Task ATaskWhoseHostIsDisposedMidRunEndsFailedOutcomeUnknownWhenAwaitedFromAnotherHost()
    {
        var prefix = TestPrefix.New();
        var a = await StartAsync(prefix);
        await using var b = await StartAsync(prefix);
        var id = await StartTaskAsync(a.CreateClient(), "/hooks/gate/open/async", $$"""{"args": ["{{Gates.New()}}"]}""");
        var waiter = b.CreateClient().GetAsync($"/tasks/{id}?timeout_ms=20000");
        await a.DisposeAsync();

        var problem = await (await waiter).AssertProblemAsync(503, ProblemTypes.OutcomeUnknown);
        Assert.Contains("stopped (shut down, crashed or lost Redis) before this task finished", problem.GetProperty("detail").GetString());
        Assert.Contains("may have happened", problem.GetProperty("detail").GetString());
        Assert.Equal("failed", problem.GetProperty("task_status").GetString());
    }

    [Fact]
    public async Task ATaskRunningLongerThanItsLeaseIsKeptAliveByItsNode()
    {
        await using var api = await StartAsync(TestPrefix.New(),
            new Dictionary<string, string?> { ["Hornbeam:Tasks:LeaseMilliseconds"] = "300" });
        var client = api.CreateClient();
        var gate = Gates.New();
        var id = await StartTaskAsync(client, "/hooks/gate/open/async", $$"""{"args": ["{{gate}}"]}""");
        // Three leases long: a waiter checks the lease each time it could lapse, and finds it renewed.
        Assert.Equal(HttpStatusCode.Accepted, (await client.GetAsync($"/tasks/{id}?timeout_ms=1000")).StatusCode);
        Gates.For(gate).SetResult(JsonSerializer.SerializeToElement(1));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/tasks/{id}?timeout_ms=5000")).StatusCode);
    }

    [Fact]
    public async Task ATaskWhoseNodeDiesWithoutAWordIsFailedOutcomeUnknownByAWaiterOnceItsLeaseLapses()
    {
        // A crashed node leaves a running task whose lease nobody renews; write that state as it would be left.
        var (prefix, api) = (replicas.Prefix, replicas.A);
        var keys = new RedisKeys(prefix);
        var db = api.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        await db.HashSetAsync(keys.Task(id), [new("status", "running"), new("node", "ghost@nowhere")]);
        await db.StringSetAsync(keys.TaskLease(id), "ghost@nowhere", TimeSpan.FromMilliseconds(400));

        var clock = Stopwatch.StartNew();
        var problem = await (await api.CreateClient().GetAsync($"/tasks/{id}?timeout_ms=10000"))
            .AssertProblemAsync(503, ProblemTypes.OutcomeUnknown);
        Assert.Contains("Node 'ghost@nowhere' stopped (shut down, crashed or lost Redis) before this task finished",
            problem.GetProperty("detail").GetString());
        Assert.Equal(ProblemTypes.OutcomeUnknown, (await db.HashGetAsync(keys.Task(id), "error_type")).ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the waiter noticed the lapsed lease soon after it lapsed ({clock.Elapsed})");
    }
}

/// <summary>Tasks use only Lua, hashes, TTLs and pub/sub, so they work on the embedded Garnet store too.</summary>
public sealed class TasksOnEmbeddedStoreTests
{
    [Fact]
    public async Task AnAsyncTaskRunsAndIsAwaitedOnTheEmbeddedStore()
    {
        await using var api = new HornbeamApiFactory(null, TestPrefix.New(), configure: TestHookSetup.Register);
        var client = api.CreateClient();
        var started = await (await client.PostAsync("/hooks/echo/add/async", Http.Json("""{"args": [20, 22]}"""))).ReadJsonAsync();
        var done = await (await client.GetAsync($"/tasks/{started.GetProperty("task_id").GetString()}?timeout_ms=10000")).ReadJsonAsync();
        Assert.Equal(42, done.GetProperty("result").GetInt64());
    }
}
