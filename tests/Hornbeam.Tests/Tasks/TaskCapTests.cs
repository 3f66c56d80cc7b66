using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Tasks;

/// <summary>A node runs at most Hornbeam:Tasks:MaxRunningPerNode tasks; a start beyond it is refused and leaves nothing behind.</summary>
public sealed class TaskCapTests(CappedTaskHost host) : IClassFixture<CappedTaskHost>
{
    [Fact]
    public async Task StartsBeyondTheCapAnswer503OverloadedWithRetryAfterAndStoreNothing()
    {
        var api = await host.Api;
        var client = api.CreateClient();
        var gates = Enumerable.Range(0, CappedTaskHost.Cap).Select(_ => Gates.New()).ToArray();
        var ids = new List<string>();
        foreach (var gate in gates)
        {
            var started = await client.PostAsync("/hooks/gate/open/async", Http.Json($$"""{"args": ["{{gate}}"]}"""));
            Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
            ids.Add((await started.ReadJsonAsync()).GetProperty("task_id").GetString()!);
        }

        for (var i = 0; i < 3; i++)
        {
            var refused = await client.PostAsync("/hooks/gate/open/async", Http.Json($$"""{"args": ["{{Gates.New()}}"]}"""));
            Assert.NotNull(refused.Headers.RetryAfter);
            var problem = await refused.AssertProblemAsync(503, ProblemTypes.Overloaded);
            Assert.Contains("MaxRunningPerNode", problem.GetProperty("detail").GetString());
        }
        Assert.Equal(CappedTaskHost.Cap, await CountTasksAsync(api));

        foreach (var gate in gates) Gates.For(gate).SetResult(JsonSerializer.SerializeToElement("done"));
        foreach (var id in ids) Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/tasks/{id}?timeout_ms=10000")).StatusCode);

        // A finished task gives its slot back once its end is recorded.
        await Poll.UntilAsync(
            async () => (await client.PostAsync("/hooks/echo/add/async", Http.Json("""{"args": [1]}"""))).StatusCode ==
                HttpStatusCode.Accepted,
            TimeSpan.FromSeconds(10), "a start is accepted again once the running tasks ended");
    }

    // Task hashes only (their leases end in ':lease'), on every master, so it counts in cluster mode too.
    private static async Task<int> CountTasksAsync(HornbeamApiFactory api)
    {
        var redis = api.Services.GetRequiredService<IConnectionMultiplexer>();
        var count = 0;
        foreach (var endpoint in redis.GetEndPoints())
        {
            var server = redis.GetServer(endpoint);
            if (server.IsReplica || !server.IsConnected) continue;
            await foreach (var _ in server.KeysAsync(pattern: $"{api.Prefix}{{task:*}}")) count++;
        }
        return count;
    }
}

/// <summary>One host whose task cap is small enough to reach with gated tasks.</summary>
public sealed class CappedTaskHost : IAsyncLifetime
{
    public const int Cap = 3;

    private readonly Lazy<Task<HornbeamApiFactory>> _api = new(() => HornbeamApiFactory.StartAsync(
        settings: new Dictionary<string, string?> { ["Hornbeam:Tasks:MaxRunningPerNode"] = Cap.ToString() },
        configure: TestHookSetup.Register));

    public Task<HornbeamApiFactory> Api => _api.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_api.IsValueCreated) await (await _api.Value).DisposeAsync();
    }
}
