using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Cluster;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Hooks;

/// <summary>Hooks that live on another node: execute, tasks and streams through a node that does not have them.</summary>
[Trait("Redis", "Cluster")]
public sealed class HookPlacementTests(HookPlacementTests.Pair pair) : IClassFixture<HookPlacementTests.Pair>
{
    /// <summary>The pair of nodes below, started once for the class; each test's calls, tasks and streams are its own.</summary>
    public sealed class Pair : IAsyncLifetime
    {
        public HornbeamApiFactory A { get; private set; } = null!;
        public HornbeamApiFactory B { get; private set; } = null!;
        public string BName { get; private set; } = null!;

        public async Task InitializeAsync() => (A, B, BName) = await StartPairAsync();

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }

    /// <summary>Node A without hooks and node B with them, on one prefix; answers once A sees B's hooks.</summary>
    private static async Task<(HornbeamApiFactory A, HornbeamApiFactory B, string BName)> StartPairAsync()
    {
        var prefix = TestPrefix.New();
        var a = await HornbeamApiFactory.StartAsync(prefix);
        var b = await HornbeamApiFactory.StartAsync(prefix, configure: hornbeam =>
        {
            TestHookSetup.Register(hornbeam);
            hornbeam.AddHookInstance("kinds", new KindHooks());
        });
        var bName = b.Services.GetRequiredService<NodeIdentity>().Name;
        var client = a.CreateClient();
        await Poll.UntilAsync(async () =>
        {
            var list = await (await client.GetAsync("/hooks")).ReadJsonAsync();
            return list.GetProperty("hooks").EnumerateArray().Any(h => h.GetProperty("app_path").GetString() == "gen"
                && h.GetProperty("nodes").EnumerateArray().Any(n => n.GetString() == bName));
        }, TimeSpan.FromSeconds(15), "node A sees node B's hooks");
        return (a, b, bName);
    }

    [Fact]
    public async Task AHookOnlyNodeBHasRunsOnBThroughNodeA()
    {
        var (a, bName) = (pair.A, pair.BName);
        var client = a.CreateClient();

        var where = await (await client.PostAsync("/hooks/embeddings/where_am_i", null)).ReadJsonAsync();
        Assert.Equal(bName, where.GetProperty("result").GetString());
        var greet = await (await client.PostAsync("/hooks/embeddings/greet", Http.Json("""{"args": ["Ann"], "kwargs": {"times": 2}}""")))
            .ReadJsonAsync();
        Assert.Equal("hello Ann hello Ann", greet.GetProperty("result").GetString());

        var failed = await (await client.PostAsync("/hooks/embeddings/fail", Http.Json("""{"args": ["far away"]}""")))
            .AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        Assert.Contains("far away", failed.GetProperty("detail").GetString());
        await (await client.PostAsync("/hooks/embeddings/decode", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync("/hooks/embeddings/greet", Http.Json("""{"args": [1, 2, 3, 4]}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);

        // A task of B's hook runs on B, and A's replica answers for it.
        var gate = Gates.New();
        var started = await (await client.PostAsync("/hooks/gate/open/async", Http.Json($$"""{"args": ["{{gate}}"]}"""))).ReadJsonAsync();
        var id = started.GetProperty("task_id").GetString();
        var running = await (await client.GetAsync($"/tasks/{id}?timeout_ms=0")).ReadJsonAsync();
        Assert.Equal(bName, running.GetProperty("node").GetString());
        Gates.For(gate).SetResult(JsonSerializer.SerializeToElement("there"));
        var done = await (await client.GetAsync($"/tasks/{id}?timeout_ms=10000")).ReadJsonAsync();
        Assert.Equal("there", done.GetProperty("result").GetString());
    }

    [Fact]
    public async Task StreamsFromNodeBArriveInOrderThroughNodeAWithBackpressureErrorsAndCancellation()
    {
        var a = pair.A;
        var client = a.CreateClient();

        // More chunks than the window, so the producer must wait for acknowledgements.
        var events = await HookStreamTests.ReadEventsAsync(
            await client.PostAsync("/hooks/gen/tokens/stream", Http.Json("""{"args": [300]}""")));
        Assert.Equal(Enumerable.Range(0, 300).Select(i => $"\"t{i}\""), events.Where(e => e.EventType == "chunk").Select(e => e.Data));
        Assert.Equal("done", events[^1].EventType);

        var failing = await HookStreamTests.ReadEventsAsync(
            await client.PostAsync("/hooks/gen/fail_after/stream", Http.Json("""{"args": [2]}""")));
        Assert.Equal(["chunk", "chunk", "error"], failing.Select(e => e.EventType));
        Assert.Contains("broke after 2", failing[^1].Data);
        await (await client.PostAsync("/hooks/gen/tokens/stream", Http.Json("""{"args": ["x"]}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);

        var gate = Gates.New();
        var request = new HttpRequestMessage(HttpMethod.Post, "/hooks/gen/forever/stream")
        {
            Content = Http.Json($$"""{"args": ["{{gate}}"]}"""),
        };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using (var stream = SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync().GetAsyncEnumerator())
            Assert.True(await stream.MoveNextAsync());
        response.Dispose();
        Assert.True((await Gates.For(gate).Task.WaitAsync(TimeSpan.FromSeconds(10))).GetBoolean(), "the handler on node B was cancelled");
    }

    [Fact]
    public async Task EveryErrorKindAHookOnNodeBThrowsKeepsItsStatusAndTypeThroughNodeAInCallsAndStreams()
    {
        var a = pair.A;
        var client = a.CreateClient();

        foreach (var kind in Enum.GetValues<HornbeamError>())
        {
            var code = HornbeamErrors.Code(kind);
            var call = await (await client.PostAsync("/hooks/kinds/throw", Http.Json($$"""{"args": ["{{code}}"]}""")))
                .AssertProblemAsync(HornbeamErrors.Status(kind), HornbeamErrors.Type(kind));
            Assert.Contains($"hook says {code}", call.GetProperty("detail").GetString());

            // Mid-stream the kind travels in the relayed error frame and reaches the client as the SSE error event's type.
            var events = await HookStreamTests.ReadEventsAsync(
                await client.PostAsync("/hooks/kinds/stream_then_throw/stream", Http.Json($$"""{"args": ["{{code}}"]}""")));
            Assert.Equal(["chunk", "error"], events.Select(e => e.EventType));
            var error = JsonDocument.Parse(events[^1].Data).RootElement;
            Assert.Equal(HornbeamErrors.Type(kind), error.GetProperty("type").GetString());
            Assert.Contains($"hook says {code}", error.GetProperty("detail").GetString());
        }
    }
}
