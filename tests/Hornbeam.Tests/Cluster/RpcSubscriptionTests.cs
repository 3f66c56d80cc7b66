using System.Net;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Cluster;

/// <summary>
/// The subscriptions RPC rides on (each node's replies and doorbell) hold whatever happened to them: made once Redis
/// comes, for nodes started before it, and made afresh when Redis stops delivering on one the node still believes it has.
/// </summary>
[Trait("Redis", "Cluster")]
public sealed class RpcSubscriptionTests(RpcSubscriptionTests.NodesStartedBeforeRedis nodes)
    : IClassFixture<RpcSubscriptionTests.NodesStartedBeforeRedis>
{
    /// <summary>
    /// Two nodes on a Redis of their own that is down while they start (their first subscriptions are refused at once) and
    /// comes up once both are running, as when replicas start before the store in a deployment.
    /// </summary>
    public sealed class NodesStartedBeforeRedis : IAsyncLifetime
    {
        public const string A = "a@subscriptions";
        public const string B = "b@subscriptions";

        // Subscriptions tried and probed often, so that a lost one comes back within the test's time.
        private static readonly Dictionary<string, string?> Checks = new()
        {
            ["Hornbeam:Redis:SubscriptionCheckInterval"] = "00:00:00.500",
        };

        public LocalRedisProcess Redis { get; private set; } = null!;
        public HornbeamApiFactory NodeA { get; private set; } = null!;
        public HornbeamApiFactory NodeB { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Redis = await LocalRedisProcess.StartAsync();
            Redis.Stop();
            var prefix = TestPrefix.New();
            NodeA = new HornbeamApiFactory(Redis.ConnectionString, prefix, ClusterNodes.Settings(A, Checks));
            NodeB = new HornbeamApiFactory(Redis.ConnectionString, prefix, ClusterNodes.Settings(B, Checks),
                configure: b => b.AddFunction("echo", string (string text) => text));
            foreach (var node in new[] { NodeA, NodeB })
                Assert.Equal(HttpStatusCode.ServiceUnavailable, (await node.CreateClient().GetAsync("/health/ready")).StatusCode);
            await Redis.RestartAsync();
            foreach (var node in new[] { NodeA, NodeB })
            {
                var client = node.CreateClient();
                await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
                    "the node is ready once Redis is up");
            }
            await ClusterNodes.UntilSeesAsync(NodeA.CreateClient(), B);
        }

        public async Task DisposeAsync()
        {
            await NodeA.DisposeAsync();
            await NodeB.DisposeAsync();
            Redis.Dispose();
        }
    }

    [Fact]
    public async Task NodesStartedBeforeRedisCallEachOtherOnceItIsUp()
    {
        await UntilCallsAnswerAsync("a call from a node started before Redis is answered");
    }

    [Fact]
    public async Task ANodeWhoseSubscriptionsRedisNoLongerDeliversOnMakesThemAfresh()
    {
        await UntilCallsAnswerAsync("calls are answered before the subscriptions are dropped");

        // Dropped beneath the node's own bookkeeping, on its multiplexer: the node still believes it holds both.
        var keys = nodes.NodeA.Services.GetRequiredService<RedisKeys>();
        var replies = keys.RpcReplies(NodesStartedBeforeRedis.A);
        var doorbell = keys.RpcDoorbell(NodesStartedBeforeRedis.B);
        await nodes.NodeA.Services.GetRequiredService<IConnectionMultiplexer>().GetSubscriber().UnsubscribeAsync(replies);
        await nodes.NodeB.Services.GetRequiredService<IConnectionMultiplexer>().GetSubscriber().UnsubscribeAsync(doorbell);
        using var admin = await ConnectionMultiplexer.ConnectAsync(nodes.Redis.ConnectionString);
        async Task<long> SubscribersAsync(RedisChannel channel) =>
            (long)((RedisResult[])(await admin.GetDatabase().ExecuteAsync("PUBSUB", "NUMSUB", channel.ToString()))!)[1];
        Assert.Equal(0, await SubscribersAsync(replies));

        await UntilCallsAnswerAsync("calls are answered again once the probe finds the replies lost");
        await Poll.UntilAsync(async () => await SubscribersAsync(replies) == 1 && await SubscribersAsync(doorbell) == 1,
            TimeSpan.FromSeconds(30), "both subscriptions are held in Redis again");
    }

    private async Task UntilCallsAnswerAsync(string because)
    {
        var client = nodes.NodeA.CreateClient();
        await Poll.UntilAsync(async () =>
        {
            var response = await client.PostAsync($"/rpc/{NodesStartedBeforeRedis.B}/functions/echo",
                Http.Json("""{"args": ["hi"], "timeout_ms": 1000}"""));
            if (response.StatusCode != HttpStatusCode.OK)
            {
                // Only the answer of a call whose reply did not come: anything else is a failure of its own.
                await response.AssertProblemAsync(504, HornbeamErrors.Type(HornbeamError.Timeout));
                return false;
            }
            return (await response.ReadJsonAsync()).GetProperty("result").GetString() == "hi";
        }, TimeSpan.FromSeconds(30), because);
    }
}
