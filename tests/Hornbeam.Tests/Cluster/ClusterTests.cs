using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using Hornbeam.Api.Problems;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Cluster;

/// <summary>Presence and RPC between API hosts that share one Redis, as replicas do.</summary>
[Trait("Redis", "Cluster")]
public sealed class ClusterTests(ThreeNodes nodes) : IClassFixture<ThreeNodes>
{
    private const string A = ThreeNodes.A;
    private const string B = ThreeNodes.B;

    internal static Action<HornbeamBuilder> TestModule(string node, StrongBox<long>? hits = null) => b => b.AddModule("test", m => m
        .Add("whoami", () => node)
        .Add("echo", (long x, string from) => new { x, from, node })
        .Add("bump", (long by) => Interlocked.Add(ref (hits ?? new StrongBox<long>()).Value, by))
        .Add("slow", async (CancellationToken ct) => { await Task.Delay(TimeSpan.FromSeconds(30), ct); return "late"; })
        .Add("boom", string (string why) => throw new InvalidOperationException(why)));

    [Fact]
    public async Task EachOfThreeNodesSeesTheOtherTwoAndNotItself()
    {
        for (var i = 0; i < ThreeNodes.Names.Length; i++)
        {
            var self = ThreeNodes.Names[i];
            var others = ThreeNodes.Names.Where(name => name != self).Order().ToArray();
            var client = nodes.Hosts[i].CreateClient();
            Assert.Equal(self, (await (await client.GetAsync("/node")).ReadJsonAsync()).GetProperty("node").GetString());
            await ClusterNodes.UntilSeesAsync(client, others);
            var list = await (await client.GetAsync("/nodes")).ReadJsonAsync();
            Assert.Equal(self, list.GetProperty("self").GetString());
            var entries = list.GetProperty("nodes").EnumerateArray().ToArray();
            Assert.Equal(others, entries.Select(n => n.GetProperty("node").GetString()).Order());
            var entry = entries[0];
            Assert.Contains("ping", entry.GetProperty("modules").GetProperty("hornbeam").EnumerateArray().Select(f => f.GetString()));
            Assert.True(entry.GetProperty("last_seen").GetDateTimeOffset() >= entry.GetProperty("started_at").GetDateTimeOffset());
        }
    }

    [Fact]
    public async Task AStoppedNodeDisappearsAndCallsToItThenFailFastWith404()
    {
        // Nodes of its own: it stops one, and checks that A then lists no node at all.
        var prefix = TestPrefix.New();
        await using var a = await ClusterNodes.StartAsync(prefix, "a@stop");
        var b = await ClusterNodes.StartAsync(prefix, "b@stop");
        var client = a.CreateClient();
        await ClusterNodes.UntilSeesAsync(client, "b@stop");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/rpc/b@stop/hornbeam/ping", null)).StatusCode);

        await b.DisposeAsync();
        // The leave announcement travels over pub/sub; once A has heard it, calls to B fail at once.
        await Poll.UntilAsync(
            async () => (await (await client.GetAsync("/nodes")).ReadJsonAsync()).GetProperty("nodes").GetArrayLength() == 0,
            TimeSpan.FromSeconds(5), "B leaves A's node list");
        var clock = Stopwatch.StartNew();
        var gone = await client.PostAsync("/rpc/b@stop/hornbeam/ping", Http.Json("{\"timeout_ms\": 5000}"));
        clock.Stop();
        await gone.AssertProblemAsync(404, ProblemTypes.NotFound);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"the 404 took {clock.Elapsed}, not well under the 5 s timeout");

        var redis = a.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        Assert.False(await redis.KeyExistsAsync(a.Services.GetRequiredService<RedisKeys>().RpcRequests("b@stop")),
            "a stopped node's stream is deleted");
    }

    [Fact]
    public async Task ACallFromAToBRunsOnBAndItsResultComesBackThroughA()
    {
        var a = nodes.Hosts[0];
        var client = a.CreateClient();

        var whoami = await (await client.PostAsync($"/rpc/{B}/test/whoami", Http.Json("{\"args\": []}"))).ReadJsonAsync();
        Assert.Equal(B, whoami.GetProperty("result").GetString());
        var ping = await (await client.PostAsync($"/rpc/{B}/hornbeam/ping", null)).ReadJsonAsync();
        Assert.Equal("pong", ping.GetProperty("result").GetString());
        var info = await (await client.PostAsync($"/rpc/{B}/hornbeam/node_info", null)).ReadJsonAsync();
        Assert.Equal(B, info.GetProperty("result").GetProperty("node").GetString());
        Assert.Contains("whoami",
            info.GetProperty("result").GetProperty("modules").GetProperty("test").EnumerateArray().Select(f => f.GetString()));
        var self = await (await client.PostAsync($"/rpc/{A}/test/whoami", null)).ReadJsonAsync();
        Assert.Equal(A, self.GetProperty("result").GetString());

        // B replies first and then acknowledges and deletes the request, so the stream empties just after the answer.
        var stream = a.Services.GetRequiredService<RedisKeys>().RpcRequests(B);
        var db = a.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await Poll.UntilAsync(async () => await db.StreamLengthAsync(stream) == 0, because: "handled requests leave B's stream");
    }

    [Fact]
    public async Task ErrorsOnTheTargetComeBackAsProblems()
    {
        var client = nodes.Hosts[0].CreateClient();

        await (await client.PostAsync("/rpc/nobody@three/hornbeam/ping", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync($"/rpc/{B}/nope/ping", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync($"/rpc/{B}/test/nope", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        var failed = await (await client.PostAsync($"/rpc/{B}/test/boom", Http.Json("{\"args\": [\"disk full\"]}")))
            .AssertProblemAsync(502, ProblemTypes.BadGateway);
        Assert.Contains("disk full", failed.GetProperty("detail").GetString());
        Assert.Contains(B, failed.GetProperty("detail").GetString());
        var wrong = await (await client.PostAsync($"/rpc/{B}/test/echo", Http.Json("{\"args\": [\"x\", \"a\"]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("'x'", wrong.GetProperty("detail").GetString());
        await (await client.PostAsync($"/rpc/{B}/test/echo", Http.Json("{\"args\": [1]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync($"/rpc/{B}/hornbeam/ping", Http.Json("{\"timeout_ms\": 600000}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync($"/rpc/{B}/hornbeam/ping", Http.Json("{\"args\": 3}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task ACallThatOutlivesItsTimeoutGets504AtTheTimeout()
    {
        var client = nodes.Hosts[0].CreateClient();

        foreach (var target in new[] { B, A })
        {
            var clock = Stopwatch.StartNew();
            var response = await client.PostAsync($"/rpc/{target}/test/slow", Http.Json("{\"timeout_ms\": 300}"));
            clock.Stop();
            await response.AssertProblemAsync(504, ProblemTypes.Timeout);
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2));
        }
    }

    [Fact]
    public async Task CastsRunOnTheirNode()
    {
        var client = nodes.Hosts[0].CreateClient();
        var (hitsA, hitsB) = (nodes.Hits[0], nodes.Hits[1]);
        var (beforeA, beforeB) = (Interlocked.Read(ref hitsA.Value), Interlocked.Read(ref hitsB.Value));

        for (var i = 0; i < 5; i++)
            Assert.Equal(HttpStatusCode.Accepted,
                (await client.PostAsync($"/rpc/{B}/test/bump/cast", Http.Json("{\"args\": [2]}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted,
            (await client.PostAsync($"/rpc/{A}/test/bump/cast", Http.Json("{\"args\": [7]}"))).StatusCode);
        await Poll.UntilAsync(() => Task.FromResult(
                Interlocked.Read(ref hitsB.Value) == beforeB + 10 && Interlocked.Read(ref hitsA.Value) == beforeA + 7),
            because: "the casts ran on b and a");
        await (await client.PostAsync("/rpc/nobody@three/test/bump/cast", Http.Json("{\"args\": [1]}")))
            .AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync($"/rpc/{A}/test/nope/cast", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task AThousandConcurrentCallsAcrossThreeNodesEachGetTheirOwnResult()
    {
        var names = ThreeNodes.Names;
        var clients = nodes.Hosts.Select(h => h.CreateClient()).ToArray();
        var calls = Enumerable.Range(0, 1000).Select(async i =>
        {
            var from = i % 3;
            var to = (i + 1 + i / 3 % 2) % 3;
            var response = await clients[from].PostAsync($"/rpc/{names[to]}/test/echo",
                Http.Json($"{{\"args\": [{i}, \"{names[from]}\"], \"timeout_ms\": 30000}}"));
            var body = await response.ReadJsonAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"call {i} from {names[from]} to {names[to]}: {body}");
            var result = body.GetProperty("result");
            Assert.Equal(i, result.GetProperty("x").GetInt64());
            Assert.Equal(names[from], result.GetProperty("from").GetString());
            Assert.Equal(names[to], result.GetProperty("node").GetString());
        });
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(calls);
        Console.WriteLine($"1000 calls took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task ANodeThatStopsHeartbeatingIsPrunedItsUnservedStreamExpiresAndItsCallersHearAtOnce()
    {
        // A node of its own: the crashed node it writes into presence would show in the shared nodes' lists.
        var prefix = TestPrefix.New();
        await using var a = await ClusterNodes.StartAsync(prefix, "a@ghost");
        var keys = a.Services.GetRequiredService<RedisKeys>();
        var redis = a.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        // A node that crashed: present for a moment more, with a group on its stream, and never heartbeating again.
        await redis.SortedSetAddAsync(keys.ClusterNodes, "ghost@ghost",
            DateTimeOffset.UtcNow.AddMilliseconds(700).ToUnixTimeMilliseconds());
        await redis.StreamCreateConsumerGroupAsync(keys.RpcRequests("ghost@ghost"), "hornbeam", "0", createStream: true);

        var clock = Stopwatch.StartNew();
        var response = await a.CreateClient().PostAsync("/rpc/ghost@ghost/hornbeam/ping", Http.Json("{\"timeout_ms\": 10000}"));
        clock.Stop();
        // The call may or may not have run before its node died: the caller hears exactly that.
        await response.AssertProblemAsync(503, HornbeamErrors.Type(HornbeamError.OutcomeUnknown));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the caller waited {clock.Elapsed}");
        // The call never read is kept for a while for a node restarted with the same name, then the stream expires.
        Assert.Equal(1, await redis.StreamLengthAsync(keys.RpcRequests("ghost@ghost")));
        Assert.NotNull(await redis.KeyTimeToLiveAsync(keys.RpcRequests("ghost@ghost")));
        Assert.Null(await redis.SortedSetScoreAsync(keys.ClusterNodes, "ghost@ghost"));
    }

    [Fact]
    public async Task ANodeSkipsCallsWhoseCallerHasGivenUpRunsEveryCastHoweverLateAndLeavesItsStreamEmpty()
    {
        // A node of its own: it writes requests into the node's stream by hand and counts every entry in it.
        var prefix = TestPrefix.New();
        var hits = new StrongBox<long>();
        await using var b = await ClusterNodes.StartAsync(prefix, "b@late", TestModule("b@late", hits));
        var keys = b.Services.GetRequiredService<RedisKeys>();
        var redis = b.Services.GetRequiredService<IConnectionMultiplexer>();
        var stream = keys.RpcRequests("b@late");
        NameValueEntry[] Request(string kind, long by, DateTimeOffset deadline) =>
        [
            new("id", kind == "call" ? "late-call" : ""), new("kind", kind), new("from", "test"),
            new("reply_to", kind == "call" ? $"{prefix}test:replies" : ""), new("module", "test"),
            new("function", "bump"), new("args", $"[{by}]"), new("deadline", deadline.ToUnixTimeMilliseconds()),
        ];
        // A cast's deadline (written for older nodes) does not drop it: a cast answered 202 runs however long it waited.
        await redis.GetDatabase().StreamAddAsync(stream, Request("call", 1000, DateTimeOffset.UtcNow.AddSeconds(-1)));
        await redis.GetDatabase().StreamAddAsync(stream, Request("cast", 100, DateTimeOffset.UtcNow.AddSeconds(-1)));
        await redis.GetDatabase().StreamAddAsync(stream, Request("cast", 5, DateTimeOffset.UtcNow.AddSeconds(30)));
        await redis.GetSubscriber().PublishAsync(keys.RpcDoorbell("b@late"), "1");

        await Poll.UntilAsync(
            async () => Interlocked.Read(ref hits.Value) == 105 && await redis.GetDatabase().StreamLengthAsync(stream) == 0,
            because: "both casts ran and every entry was acknowledged and deleted");
        Assert.Equal(105, Interlocked.Read(ref hits.Value));
        var pending = await redis.GetDatabase().StreamPendingAsync(stream, "hornbeam");
        Assert.Equal(0, pending.PendingMessageCount);
    }

    [Fact]
    public async Task OnTheEmbeddedStoreANodeListsItselfAndCallsItselfInProcess()
    {
        // A host of its own: the embedded store, not the tests' Redis.
        await using var api = new HornbeamApiFactory(null, TestPrefix.New(), ClusterNodes.Settings("solo@embedded"));
        var client = api.CreateClient();
        var nodes = await (await client.GetAsync("/nodes")).ReadJsonAsync();
        Assert.Equal("solo@embedded", nodes.GetProperty("self").GetString());
        Assert.Empty(nodes.GetProperty("nodes").EnumerateArray());
        var ping = await (await client.PostAsync("/rpc/solo@embedded/hornbeam/ping", null)).ReadJsonAsync();
        Assert.Equal("pong", ping.GetProperty("result").GetString());
    }
}
