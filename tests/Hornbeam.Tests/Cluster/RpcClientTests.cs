using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Cluster;

/// <summary>RPC from C#: Hornbeam.Core without ASP.NET, as hooks and other capabilities use it, and the delegate binding.</summary>
/// <remarks>Each test starts the named nodes it calls between: one freezes the Redis under them.</remarks>
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
    public void ModuleAndFunctionNamesAreCheckedAtRegistration()
    {
        var builder = new HornbeamBuilder(new ServiceCollection());
        Assert.Throws<ArgumentException>(() => builder.AddModule("hornbeam", _ => { }));
        Assert.Throws<HornbeamException>(() => builder.AddModule("a/b", _ => { }));
        Assert.Throws<HornbeamException>(() => builder.AddFunction("has space", () => 1));
    }
}
