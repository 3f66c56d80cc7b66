using System.Diagnostics;
using System.Net;
using Hornbeam.Tests.Cluster;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Hornbeam.Tests.PubSub;

/// <summary>
/// A replica that dies without leaving: its subscribers stop counting when cluster presence declares it dead, on every replica,
/// in the publish answer and in the listing alike.
/// </summary>
[Trait("Redis", "Cluster")]
public sealed class PubSubDeadReplicaTests(PubSubReplicaPair pair, ITestOutputHelper output) : IClassFixture<PubSubReplicaPair>
{
    private static async Task<long> PublishedToAsync(HttpClient client, string topic)
    {
        var response = await client.PostAsync($"/pubsub/{topic}", Http.Json("0"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("subscribers").GetInt64();
    }

    private static async Task<long> ListedAsync(HttpClient client, string topic)
    {
        var list = await (await client.GetAsync("/pubsub")).ReadJsonAsync();
        return list.GetProperty("topics").EnumerateArray().Where(t => t.GetProperty("topic").GetString() == topic)
            .Select(t => t.GetProperty("subscribers").GetInt64()).FirstOrDefault();
    }

    /// <summary>Every count route on both live replicas: publish answers and listings.</summary>
    private async Task<long[]> CountsAsync(string topic) =>
        [await PublishedToAsync(pair.A.CreateClient(), topic), await PublishedToAsync(pair.B.CreateClient(), topic),
         await ListedAsync(pair.A.CreateClient(), topic), await ListedAsync(pair.B.CreateClient(), topic)];

    [Fact]
    public async Task AReplicaThatDiesWithoutLeavingStopsCountingWithinNodeExpiryAndItsResubscribedClientsCountOnce()
    {
        var topic = $"dying:{Guid.NewGuid():N}";
        var dying = new HornbeamApiFactory(
            await RedisServer.ConnectionStringAsync(), pair.Prefix, ClusterNodes.Settings($"c-{Guid.NewGuid():N}@dies"));
        try
        {
            var onDying = await Task.WhenAll(Enumerable.Range(0, 2)
                .Select(_ => SseStream.OpenAsync(dying.CreateClient(), $"/pubsub/{topic}")));
            await Poll.UntilAsync(async () => (await CountsAsync(topic)).All(c => c == 2),
                because: "both replicas count the dying replica's subscribers");

            // The crash: the process never writes to Redis again (no heartbeat, no leave, no lowered count), and its clients go.
            await dying.Services.GetRequiredService<IConnectionMultiplexer>().DisposeAsync();
            var clock = Stopwatch.StartNew();
            foreach (var stream in onDying) await stream.DisposeAsync();
            // They come back on another replica, with the last id they saw.
            await using var back1 = await SseStream.OpenAsync(
                pair.B.CreateClient(), $"/pubsub/{topic}", lastEventId: onDying[0].StartsAfter.ToString());
            await using var back2 = await SseStream.OpenAsync(
                pair.B.CreateClient(), $"/pubsub/{topic}", lastEventId: onDying[1].StartsAfter.ToString());

            var seen = new List<long[]>();
            await Poll.UntilAsync(async () =>
            {
                var counts = await CountsAsync(topic);
                seen.Add(counts);
                return counts.All(c => c == 2);
            }, TimeSpan.FromSeconds(20), "the dead replica's subscribers stop counting");
            output.WriteLine($"the dead replica stopped counting {clock.Elapsed} after it stopped writing to Redis");
            // Two seconds beyond a heartbeat: the clients' reconnects and each poll's four requests run in that time too, on
            // a machine other test classes share. A count kept by anything but presence would last far longer.
            var bound = PubSubReplicaPair.NodeExpiry + PubSubReplicaPair.Heartbeat + TimeSpan.FromSeconds(2);
            Assert.True(clock.Elapsed < bound,
                $"the dead replica counted for {clock.Elapsed}, more than NodeExpiry plus a heartbeat and two seconds ({bound})");
            Assert.All(seen, counts => Assert.All(counts, c => Assert.InRange(c, 2, 4)));

            // And it stays so: nothing brings the dead replica's counts back.
            Assert.All(await CountsAsync(topic), c => Assert.Equal(2, c));
        }
        finally
        {
            // Its services find the connection gone as it stops, as a crashed process would have; that is not this test's concern.
            try
            {
                await dying.DisposeAsync();
            }
            catch (Exception e) when (e is AggregateException or ObjectDisposedException or RedisException or OperationCanceledException)
            {
            }
        }
    }
}

/// <summary>Two live API replicas of one cluster (fast presence heartbeats), shared by <see cref="PubSubDeadReplicaTests"/>.</summary>
public sealed class PubSubReplicaPair : IAsyncLifetime
{
    /// <summary>As in <see cref="ClusterNodes.Settings"/>.</summary>
    public static readonly TimeSpan NodeExpiry = TimeSpan.FromSeconds(3), Heartbeat = TimeSpan.FromMilliseconds(200);

    public string Prefix { get; } = TestPrefix.New();

    public HornbeamApiFactory A { get; private set; } = null!;

    public HornbeamApiFactory B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        A = await ClusterNodes.StartAsync(Prefix, $"a-{Guid.NewGuid():N}@lives");
        B = await ClusterNodes.StartAsync(Prefix, $"b-{Guid.NewGuid():N}@lives");
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}
