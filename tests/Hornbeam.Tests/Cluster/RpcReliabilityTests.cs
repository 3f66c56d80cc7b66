using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Hornbeam.Cluster;
using Hornbeam.Hooks;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Cluster;

/// <summary>RPC across replicas: one error contract, the handler cap, a refused (never trimmed) backlog, and restarts.</summary>
[Trait("Redis", "Cluster")]
public sealed class RpcReliabilityTests(RpcReliabilityHosts hosts) : IClassFixture<RpcReliabilityHosts>
{
    [Fact]
    public async Task EveryErrorKindAFunctionThrowsOnNodeAAnswersTheSameStatusAndTypeThroughNodeB()
    {
        var client = hosts.NodeB.CreateClient();
        foreach (var kind in Enum.GetValues<HornbeamError>())
        {
            var code = HornbeamErrors.Code(kind);
            var args = Http.Json($$"""{"args": ["{{code}}"], "timeout_ms": 10000}""");
            var response = await client.PostAsync("/functions/throw_kind/call", args);
            var problem = await response.AssertProblemAsync(HornbeamErrors.Status(kind), HornbeamErrors.Type(kind));
            Assert.Contains($"node A says {code}", problem.GetProperty("detail").GetString());
            if (HornbeamErrors.Status(kind) == 503) Assert.NotNull(response.Headers.RetryAfter);

            // The raw RPC route answers the same, except that a handler's failure there is the other node's (502).
            var raw = await client.PostAsync($"/rpc/{RpcReliabilityHosts.A}/functions/throw_kind",
                Http.Json($$"""{"args": ["{{code}}"], "timeout_ms": 10000}"""));
            if (kind == HornbeamError.HandlerFailed) await raw.AssertProblemAsync(502, HornbeamErrors.Type(HornbeamError.BadGateway));
            else await raw.AssertProblemAsync(HornbeamErrors.Status(kind), HornbeamErrors.Type(kind));
        }
    }

    [Fact]
    public void RepliesAndStreamFramesFromOlderNodesKeepTheKindsTheyCouldCarry()
    {
        static HornbeamError Reply(string json) => RpcWire.KindOf(RpcReply.Parse(Encoding.UTF8.GetBytes(json))!.Value.Reply);
        Assert.Equal(HornbeamError.NotFound, Reply("""{"id":"1","ok":false,"error":"not_found","message":"m"}"""));
        Assert.Equal(HornbeamError.HandlerFailed, Reply("""{"id":"1","ok":false,"error":"failed","message":"m"}"""));
        Assert.Equal(HornbeamError.Conflict,
            Reply("""{"id":"1","ok":false,"type":"urn:hornbeam:problem:conflict","error":"failed","message":"m"}"""));

        Assert.Equal(HornbeamError.Conflict,
            StreamMessage.Parse((RedisValue)"""{"seq":3,"kind":"error","error":"Conflict","message":"m"}""")!.ErrorKind);
        Assert.Equal(HornbeamError.HandlerFailed, StreamMessage.Parse((RedisValue)"""{"seq":3,"kind":"error","message":"m"}""")!.ErrorKind);
        var frame = StreamMessage.Parse(StreamMessage.Fail(3, HornbeamError.Overloaded, "m"))!;
        Assert.Equal((HornbeamError.Overloaded, HornbeamErrors.Type(HornbeamError.Overloaded), "Overloaded"),
            (frame.ErrorKind, frame.Type, frame.Error));
    }

    [Fact]
    public async Task MoreConcurrentSlowCallsThanTheCapAreAllAnsweredWithNeverMoreThanTheCapRunning()
    {
        var client = hosts.NodeB.CreateClient();
        var calls = Enumerable.Range(0, RpcReliabilityHosts.Cap * 4)
            .Select(_ => client.PostAsync("/functions/slow/call", Http.Json("""{"args": [300], "timeout_ms": 30000}""")))
            .ToArray();
        foreach (var response in await Task.WhenAll(calls)) Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(RpcReliabilityHosts.Cap, hosts.MaxRunning);
    }

    [Fact]
    public async Task AFullCastBacklogAnswers503OverloadedAndEveryCastAnswered202RunsExactlyOnce()
    {
        var client = hosts.NodeB.CreateClient();
        var db = hosts.NodeA.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var stream = hosts.NodeA.Services.GetRequiredService<RedisKeys>().RpcRequests(RpcReliabilityHosts.A);
        await Poll.UntilAsync(async () => await db.StreamLengthAsync(stream) == 0, because: "node A's stream starts empty");

        int accepted = 0, refused = 0;
        for (var i = 0; i < RpcReliabilityHosts.Backlog + 10; i++)
        {
            var response = await client.PostAsync("/functions/held/cast", null);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                accepted++;
                continue;
            }
            await response.AssertProblemAsync(503, HornbeamErrors.Type(HornbeamError.Overloaded));
            Assert.NotNull(response.Headers.RetryAfter);
            refused++;
        }
        // Running casts stay in the stream until they finish, so the backlog counts them too.
        Assert.Equal(RpcReliabilityHosts.Backlog, accepted);
        Assert.Equal(10, refused);
        Assert.Equal(RpcReliabilityHosts.Backlog, await db.StreamLengthAsync(stream));

        hosts.Gate.TrySetResult();
        await Poll.UntilAsync(async () => hosts.HeldRuns == accepted && await db.StreamLengthAsync(stream) == 0,
            TimeSpan.FromSeconds(20), "every accepted cast ran and left the stream");
        Assert.Equal(accepted, hosts.HeldRuns);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/functions/held/cast", null)).StatusCode);
        await Poll.UntilAsync(() => Task.FromResult(hosts.HeldRuns == accepted + 1),
            because: "a cast is accepted again once there is room");
    }

    [Fact]
    public async Task ANodeRestartedWithTheSameNameNeitherReRunsAnsweredCallsNorRunsWhatItsPreviousProcessLeftUnfinished()
    {
        const string c = "c@reliable";
        var runs = 0;
        Action<HornbeamBuilder> counting = b => b.AddFunction("count_c", () => Interlocked.Increment(ref runs));
        var client = hosts.NodeB.CreateClient();
        var redis = hosts.NodeA.Services.GetRequiredService<IConnectionMultiplexer>();
        var keys = hosts.NodeA.Services.GetRequiredService<RedisKeys>();
        var stream = keys.RpcRequests(c);

        await using (var first = await ClusterNodes.StartAsync(hosts.Prefix, c, counting))
        {
            await RpcReliabilityHosts.UntilOfferedAsync(client, "count_c", c);
            for (var i = 1; i <= 3; i++)
            {
                var answer = await (await client.PostAsync("/functions/count_c/call", Http.Json("""{"timeout_ms": 10000}""")))
                    .ReadJsonAsync();
                Assert.Equal(i, answer.GetProperty("result").GetInt32());
            }
        }
        Assert.Equal(3, runs);

        // What a process killed mid-work leaves: a call and a cast it had taken (pending to its name), and a cast it never read.
        var replies = Channel.CreateUnbounded<string>();
        var replyTo = RedisChannel.Literal($"{hosts.Prefix}test:replies");
        await redis.GetSubscriber().SubscribeAsync(replyTo, (_, m) => replies.Writer.TryWrite((string)m!));
        var db = redis.GetDatabase();
        await db.StreamCreateConsumerGroupAsync(stream, "hornbeam", "0", createStream: true);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30).ToUnixTimeMilliseconds();
        NameValueEntry[] Entry(string kind, string id, string reply) =>
        [
            new("id", id), new("kind", kind), new("from", "test"), new("reply_to", reply), new("module", "functions"),
            new("function", "count_c"), new("args", "[]"), new("deadline", deadline),
        ];
        await db.StreamAddAsync(stream, Entry("call", "taken-call", replyTo.ToString()));
        await db.StreamAddAsync(stream, Entry("cast", "", ""));
        Assert.Equal(2, (await db.StreamReadGroupAsync(stream, "hornbeam", c, ">", 10)).Length);
        await db.StreamAddAsync(stream, Entry("cast", "", ""));

        await using var second = await ClusterNodes.StartAsync(hosts.Prefix, c, counting);
        await Poll.UntilAsync(async () => await db.StreamLengthAsync(stream) == 0, TimeSpan.FromSeconds(15),
            "the restarted node settled its stream");
        Assert.Equal(4, runs);
        var reply = JsonDocument.Parse(await replies.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10))).RootElement;
        Assert.Equal("taken-call", reply.GetProperty("id").GetString());
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Equal(HornbeamErrors.Type(HornbeamError.OutcomeUnknown), reply.GetProperty("type").GetString());
        Assert.Equal(0, (await db.StreamPendingAsync(stream, "hornbeam")).PendingMessageCount);

        // The restarted node serves new calls once; its predecessor's answered calls stay answered.
        await Poll.UntilAsync(
            async () => (await client.PostAsync("/functions/count_c/call", Http.Json("""{"timeout_ms": 10000}"""))).IsSuccessStatusCode,
            TimeSpan.FromSeconds(15), "node B reaches the restarted node");
        Assert.Equal(5, runs);
    }
}
