using System.Runtime.CompilerServices;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Cluster;

/// <summary>RPC from C#: Hornbeam.Core without ASP.NET, as hooks and other capabilities use it, and the delegate binding.</summary>
/// <remarks>Each test starts the named nodes it calls between: two freeze the Redis under them.</remarks>
[Trait("Redis", "Cluster")]
public sealed class RpcClientTests
{
    private static Action<HornbeamBuilder> Node(string name) => b =>
    {
        b.Services.Configure<HornbeamOptions>(o => o.NodeName = name);
        b.Services.Configure<ClusterOptions>(o =>
            (o.HeartbeatInterval, o.NodeExpiry) = (TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(3)));
        b.AddModule("math", m => m
            .Add("square", async ValueTask<long> (long x) => { await Task.Yield(); return x * x; })
            .Add("where", () => name)
            .Add("describe", (JsonElement any) => any.ValueKind.ToString())
            .Add("nothing", () => Task.CompletedTask));
    };

    [Fact]
    public async Task AnEmbeddedHostCallsAnotherNodeThroughIRpcClient()
    {
        var prefix = TestPrefix.New();
        await using var a = await CoreHost.StartAsync(prefix, Node("a@core"));
        await using var b = await CoreHost.StartAsync(prefix, Node("b@core"));
        var rpc = a.Get<IRpcClient>();
        await Poll.UntilAsync(async () => (await a.Get<IClusterPresence>().LiveNodesAsync()).Any(n => n.Node == "b@core"),
            because: "a sees b");

        var timeout = TimeSpan.FromSeconds(5);
        Assert.Equal("b@core", (await rpc.CallAsync("b@core", "math", "where", [], timeout)).GetString());
        Assert.Equal(49, (await rpc.CallAsync("b@core", "math", "square", [JsonSerializer.SerializeToElement(7)], timeout)).GetInt64());
        Assert.Equal("Object",
            (await rpc.CallAsync("b@core", "math", "describe", [JsonSerializer.SerializeToElement(new { k = 1 })], timeout)).GetString());
        Assert.Equal(JsonValueKind.Null, (await rpc.CallAsync("a@core", "math", "nothing", [], timeout)).ValueKind);
        var missing = await Assert.ThrowsAsync<HornbeamException>(() => rpc.CallAsync("b@core", "math", "cube", [], timeout));
        Assert.Equal(HornbeamError.NotFound, missing.Error);
    }

    [Fact]
    public async Task ACallWhileRedisIsFrozenFailsAsAnOutageNotAsTheCallersTimeout()
    {
        using var redis = await LocalRedisProcess.StartAsync();
        var prefix = TestPrefix.New();
        await using var a = await CoreHost.StartAsync(prefix, Node("a@frozen"), redis.ConnectionString);
        await using var b = await CoreHost.StartAsync(prefix, Node("b@frozen"), redis.ConnectionString);
        await Poll.UntilAsync(async () => (await a.Get<IClusterPresence>().LiveNodesAsync()).Any(n => n.Node == "b@frozen"),
            because: "a sees b");
        await redis.PauseAsync();
        try
        {
            // Redis's own deadline runs out long before the caller's 30 s: that is an outage (RedisTimeoutException, which
            // the wires answer 503), not the other node failing to answer in time (HornbeamError.Timeout, a 504).
            var failure = await Assert.ThrowsAnyAsync<Exception>(() =>
                a.Get<IRpcClient>().CallAsync("b@frozen", "math", "where", [], TimeSpan.FromSeconds(30)));
            Assert.False(failure is HornbeamException { Error: HornbeamError.Timeout },
                $"answered as the caller's timeout: {failure.Message}");
            Assert.NotNull(Hornbeam.Redis.RedisFailures.Classify(failure, changesData: true));
        }
        finally
        {
            await redis.ResumeAsync();
        }
    }

    [Fact]
    public async Task CastsTakenByAReadWhoseAnswerARedisFreezeLostStillRunExactlyOnce()
    {
        using var redis = await LocalRedisProcess.StartAsync();
        var prefix = TestPrefix.New();
        var hits = new StrongBox<long>();
        await using var b = await CoreHost.StartAsync(prefix, builder =>
        {
            Node("b@lost")(builder);
            // A read every sweep and a short deadline: the freeze below outlasts several reads' deadlines.
            builder.Services.Configure<ClusterOptions>(o => o.SweepInterval = TimeSpan.FromMilliseconds(200));
            builder.Services.Configure<RedisOptions>(o => o.DeadlineMs = 500);
            builder.AddModule("count", m => m.Add("bump", (long by) => Interlocked.Add(ref hits.Value, by)));
        }, redis.ConnectionString);
        var stream = b.Get<RedisKeys>().RpcRequests("b@lost");
        await using var writer = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = writer.GetDatabase();
        await Poll.UntilAsync(async () => await db.KeyExistsAsync(stream), because: "b has created its request stream");

        // Casts written straight into b's stream without a doorbell, so b's next read is its sweep's, made while Redis is
        // frozen: the read times out in b, and Redis runs it once it resumes, handing the casts to b's consumer.
        for (var i = 0; i < 5; i++)
            await db.StreamAddAsync(stream,
            [
                new("id", ""), new("kind", "cast"), new("from", "test"), new("reply_to", ""), new("module", "count"),
                new("function", "bump"), new("args", "[1]"), new("deadline", DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds()),
            ]);
        await redis.PauseAsync();
        try
        {
            // The fault's length: several of b's sweeps and deadlines.
            await Task.Delay(TimeSpan.FromSeconds(3));
        }
        finally
        {
            await redis.ResumeAsync();
        }

        await Poll.UntilAsync(async () => Interlocked.Read(ref hits.Value) >= 5 && await db.StreamLengthAsync(stream) == 0,
            TimeSpan.FromSeconds(15), "every cast ran and left the stream");
        Assert.Equal(0, (await db.StreamPendingAsync(stream, RpcWire.ConsumerGroup)).PendingMessageCount);
        Assert.Equal(5, Interlocked.Read(ref hits.Value));
    }

    [Fact]
    public void ModuleAndFunctionNamesAreCheckedAtRegistration()
    {
        var builder = new HornbeamBuilder(new ServiceCollection());
        Assert.Throws<ArgumentException>(() => builder.AddModule("hornbeam", _ => { }));
        Assert.Throws<HornbeamException>(() => builder.AddModule("a/b", _ => { }));
        Assert.Throws<HornbeamException>(() => builder.AddFunction("has space", () => 1));
    }
}
