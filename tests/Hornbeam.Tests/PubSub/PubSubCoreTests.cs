using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.PubSub;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.PubSub;

/// <summary>Pub/sub from C#: Hornbeam.Core embedded in a generic host, subscribers as IAsyncEnumerable.</summary>
/// <remarks>Each test starts its own node: they differ in buffer and history settings, and one ends its node uncleanly.</remarks>
[Trait("Redis", "Cluster")]
public sealed class PubSubCoreTests
{
    [Fact]
    public async Task ACSharpSubscriberReceivesMessagesAndCountsLikeAnyOther()
    {
        var prefix = TestPrefix.New();
        await using var node = await CoreHost.StartAsync(prefix);
        var pubsub = node.Get<IPubSub>();
        var first = await pubsub.PublishAsync("notifications", new { type = "alert" });
        Assert.Equal(0, first.Subscribers);

        var subscription = await pubsub.SubscribeAsync("notifications");
        Assert.Equal(first.Id, subscription.StartsAfter);
        var published = await pubsub.PublishAsync("notifications", new { type = "alert", message = "restart" });
        Assert.Equal(new PublishResult(1, first.Id + 1), published);
        await using (var messages = subscription.GetAsyncEnumerator())
        {
            Assert.True(await messages.MoveNextAsync());
            Assert.Equal(first.Id + 1, messages.Current.Id);
            Assert.Equal(PubSubMessageKind.Message, messages.Current.Kind);
            Assert.Equal("{\"type\":\"alert\",\"message\":\"restart\"}", System.Text.Encoding.UTF8.GetString(messages.Current.Json));
        }
        // Ending the enumeration leaves the topic.
        Assert.Equal(0, (await pubsub.TopicAsync("notifications")).Subscribers);
        Assert.Equal(0, (await pubsub.PublishAsync("notifications", 3)).Subscribers);
    }

    [Fact]
    public async Task ASubscriberThatStopsReadingIsCutOffAtItsBufferBoundWhileAnotherKeepsReceiving()
    {
        var prefix = TestPrefix.New();
        await using var node = await CoreHost.StartAsync(prefix, h => h.Services.Configure<PubSubOptions>(o => o.BufferCapacity = 8));
        var pubsub = node.Get<IPubSub>();
        await using var slow = await pubsub.SubscribeAsync("firehose");
        await using var fast = await pubsub.SubscribeAsync("firehose");
        var received = new System.Collections.Concurrent.ConcurrentQueue<long>();
        var reading = Task.Run(async () =>
        {
            await foreach (var m in fast)
            {
                received.Enqueue(m.Id);
                if (received.Count == 50) break;
            }
        });

        // The fast reader keeps up (each message is read before the next is sent) however loaded the machine is.
        for (var i = 0; i < 50; i++)
        {
            await pubsub.PublishAsync("firehose", i);
            var expected = i + 1;
            await Poll.UntilAsync(() => Task.FromResult(received.Count >= expected), because: "the fast subscriber reads each message");
        }
        await reading.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => fast.StartsAfter + i), received);

        var slowItems = new List<PubSubMessage>();
        await foreach (var m in slow) slowItems.Add(m);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => slow.StartsAfter + i),
            slowItems.Where(m => m.Kind == PubSubMessageKind.Message).Select(m => m.Id));
        var overflow = slowItems[^1];
        Assert.Equal(PubSubMessageKind.Overflow, overflow.Kind);
        Assert.Equal(slow.StartsAfter + 8, overflow.Id);
        Assert.Contains("fell more than 8 messages behind", System.Text.Encoding.UTF8.GetString(overflow.Json));
    }

    [Fact]
    public async Task AnotherNodesCountStopsCountingWhenClusterPresenceDeclaresItDeadAndAnEarlierProcessOfItsNameNeverCounts()
    {
        var prefix = TestPrefix.New();
        await using var node = await CoreHost.StartAsync(prefix);
        var pubsub = node.Get<IPubSub>();
        await using var local = await pubsub.SubscribeAsync("jobs");
        // A node that died without a clean shutdown: present for a moment more, and its count is in Redis for a minute more.
        var allKeys = new RedisKeys(prefix);
        var keys = allKeys.PubSubTopic("jobs");
        var db = node.Get<IConnectionMultiplexer>().GetDatabase();
        var now = DateTimeOffset.UtcNow;
        var started = now.AddMinutes(-1);
        await db.HashSetAsync(allKeys.ClusterNodeInfo, "ghost@core",
            JsonSerializer.Serialize(new NodeInfo("ghost@core", started, now, new Dictionary<string, IReadOnlyList<string>>(), [])));
        await db.SortedSetAddAsync(allKeys.ClusterNodes, "ghost@core", now.AddMilliseconds(700).ToUnixTimeMilliseconds());
        var ghost = $"ghost@core#{started.ToUnixTimeMilliseconds()}";
        var earlier = $"ghost@core#{started.AddMinutes(-5).ToUnixTimeMilliseconds()}";
        foreach (var (instance, count) in new[] { (ghost, 4), (earlier, 10) })
        {
            await db.HashSetAsync(keys.Nodes, instance, count);
            await db.SortedSetAddAsync(keys.Alive, instance, now.AddMinutes(1).ToUnixTimeMilliseconds());
        }

        Assert.Equal(5, (await pubsub.PublishAsync("jobs", 1)).Subscribers);
        Assert.Equal(5, (await pubsub.TopicAsync("jobs")).Subscribers);
        await Poll.UntilAsync(async () => (await pubsub.PublishAsync("jobs", 2)).Subscribers == 1,
            because: "a dead node stops counting when its presence lapses");
        Assert.Equal(1, (await pubsub.TopicAsync("jobs")).Subscribers);
        await Poll.UntilAsync(async () => (await db.HashKeysAsync(keys.Nodes)).Length == 1,
            because: "counting drops the dead instances' entries");
    }

    [Fact]
    public async Task HistoryOlderThanItsAgeIsNotReplayedAndIsAnnouncedAsAGap()
    {
        var prefix = TestPrefix.New();
        await using var node = await CoreHost.StartAsync(
            prefix, h => h.Services.Configure<PubSubOptions>(o => o.HistoryAge = TimeSpan.FromSeconds(1)));
        var pubsub = node.Get<IPubSub>();
        var one = (await pubsub.PublishAsync("old", 1)).Id;
        var two = (await pubsub.PublishAsync("old", 2)).Id;

        // From 0 (seen nothing): what history holds, with no gap for the ids below the first, which never existed. A
        // loaded machine may reach this after message one has aged out already; then history starts at two, still no gap.
        await using (var fresh = await pubsub.SubscribeAsync("old", lastEventId: 0))
        await using (var items = fresh.GetAsyncEnumerator())
        {
            Assert.True(await items.MoveNextAsync());
            Assert.Equal(PubSubMessageKind.Message, items.Current.Kind);
            Assert.Contains(items.Current.Id, new[] { one, two });
        }

        await Poll.UntilAsync(async () =>
        {
            await using var late = await pubsub.SubscribeAsync("old", lastEventId: one);
            await using var items = late.GetAsyncEnumerator();
            return await items.MoveNextAsync() && items.Current.Kind == PubSubMessageKind.Gap && items.Current.Id == two;
        }, because: "messages past the history age are not replayed");
    }
}
