using System.Net;
using System.Text.Json;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.PubSub;

/// <summary>Pub/sub as replicas behind a load balancer see it: several API hosts with one prefix are the nodes of one cluster.</summary>
[Trait("Redis", "Cluster")]
public sealed class PubSubReplicaTests(ReplicaPair replicas) : IClassFixture<ReplicaPair>
{
    private static async Task<JsonElement> PublishAsync(HttpClient client, string topic, string json)
    {
        var response = await client.PostAsync($"/pubsub/{topic}", Http.Json(json));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    private static async Task<long> SubscribersAsync(HttpClient client, string topic)
    {
        var list = await (await client.GetAsync("/pubsub")).ReadJsonAsync();
        return list.GetProperty("topics").EnumerateArray().Where(t => t.GetProperty("topic").GetString() == topic)
            .Select(t => t.GetProperty("subscribers").GetInt64()).FirstOrDefault();
    }

    [Fact]
    public async Task SubscribersOnThreeHostsAllReceiveAndTheCountDropsWhenOneLeavesOrItsHostStops()
    {
        var prefix = TestPrefix.New();
        var hosts = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => HornbeamApiFactory.StartAsync(prefix)));
        await using var a = hosts[0];
        await using var b = hosts[1];
        var c = hosts[2];
        await using var publisher = hosts[3];
        var streams = await Task.WhenAll(hosts[..3].Select(h => SseStream.OpenAsync(h.CreateClient(), "/pubsub/notifications")));

        var published = await PublishAsync(
            publisher.CreateClient(), "notifications", "{\"type\":\"alert\",\"message\":\"restart in 5 minutes\"}");
        Assert.Equal(3, published.GetProperty("subscribers").GetInt64());
        foreach (var stream in streams)
        {
            var received = await stream.NextAsync();
            Assert.Equal(published.GetProperty("id").GetInt64().ToString(), received.Id);
            Assert.Equal("alert", received.Json.GetProperty("type").GetString());
        }
        Assert.Equal(3, await SubscribersAsync(publisher.CreateClient(), "notifications"));

        await streams[0].DisposeAsync();
        await Poll.UntilAsync(async () => await SubscribersAsync(publisher.CreateClient(), "notifications") == 2,
            because: "a disconnected subscriber stops counting");
        Assert.Equal(2, (await PublishAsync(publisher.CreateClient(), "notifications", "2")).GetProperty("subscribers").GetInt64());

        await c.DisposeAsync();
        await streams[2].DisposeAsync();
        Assert.Equal(1, (await PublishAsync(publisher.CreateClient(), "notifications", "3")).GetProperty("subscribers").GetInt64());
        Assert.Equal("2", (await streams[1].NextAsync()).Data);
        Assert.Equal("3", (await streams[1].NextAsync()).Data);
        await streams[1].DisposeAsync();
    }

    [Fact]
    public async Task EverySubscriberReceivesAThousandMessagesPublishedOnTwoHostsInIdOrder()
    {
        var (a, b) = (replicas.A, replicas.B);
        await using var onA = await SseStream.OpenAsync(a.CreateClient(), "/pubsub/orders");
        await using var onB = await SseStream.OpenAsync(b.CreateClient(), "/pubsub/orders");
        HttpClient[] publishers = [a.CreateClient(), b.CreateClient()];

        const int count = 1000;
        using var throttle = new SemaphoreSlim(16);
        var publishing = Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await throttle.WaitAsync();
            try
            {
                var response = await publishers[i % 2].PostAsync("/pubsub/orders", Http.Json(i.ToString()));
                return (i, (await response.ReadJsonAsync()).GetProperty("id").GetInt64());
            }
            finally
            {
                throttle.Release();
            }
        }));
        var receivedA = await onA.TakeAsync(count);
        var receivedB = await onB.TakeAsync(count);
        var idOf = (await publishing).ToDictionary(p => p.Item2, p => p.i);

        foreach (var received in new[] { receivedA, receivedB })
        {
            Assert.Equal(Enumerable.Range(1, count).Select(i => (onA.StartsAfter + i).ToString()), received.Select(e => e.Id));
            Assert.All(received, e => Assert.Equal(idOf[long.Parse(e.Id!)].ToString(), e.Data));
        }
    }

    [Fact]
    public async Task ReconnectingToAnotherHostWithLastEventIdGetsExactlyTheMissedMessagesThenLiveOnes()
    {
        var (a, b) = (replicas.A, replicas.B);
        var publisher = a.CreateClient();

        var first = await SseStream.OpenAsync(a.CreateClient(), "/pubsub/chat:general");
        var id = Enumerable.Range(0, 9).Select(i => (first.StartsAfter + i).ToString()).ToArray(); // id[n] is the n-th message's
        for (var i = 1; i <= 3; i++) await PublishAsync(publisher, "chat:general", i.ToString());
        var seen = await first.TakeAsync(3);
        Assert.Equal(id[1..4], seen.Select(e => e.Id));
        await first.DisposeAsync();

        for (var i = 4; i <= 6; i++) await PublishAsync(publisher, "chat:general", i.ToString());
        await using var again = await SseStream.OpenAsync(b.CreateClient(), "/pubsub/chat:general", lastEventId: id[3]);
        Assert.Equal(id[3], again.StartsAfter.ToString());
        Assert.Equal(3000, again.Subscribed.Retry);
        await PublishAsync(publisher, "chat:general", "7");
        await PublishAsync(publisher, "chat:general", "8");
        var resumed = await again.TakeAsync(5);
        Assert.Equal(id[4..9], resumed.Select(e => e.Id));
        Assert.Equal(["4", "5", "6", "7", "8"], resumed.Select(e => e.Data));
        Assert.All(resumed, e => Assert.Equal("message", e.Event));

        // Clients that cannot set headers pass the id in the query.
        await using var byQuery = await SseStream.OpenAsync(b.CreateClient(), $"/pubsub/chat:general?last_event_id={id[6]}");
        Assert.Equal(id[7..9], (await byQuery.TakeAsync(2)).Select(e => e.Id));
    }

    [Fact]
    public async Task AReconnectWhilePublishingContinuesHasNoGapAndNoDuplicate()
    {
        var (a, b) = (replicas.A, replicas.B);
        const int count = 300;
        var publisher = a.CreateClient();
        var done = 0;
        long before = 0; // the id the first message follows
        var publishing = Task.Run(async () =>
        {
            for (var i = 1; i <= count; i++)
            {
                var id = (await PublishAsync(publisher, "ticks", i.ToString())).GetProperty("id").GetInt64();
                if (i == 1) Volatile.Write(ref before, id - 1);
                Volatile.Write(ref done, i);
            }
        });
        await Poll.UntilAsync(() => Task.FromResult(Volatile.Read(ref done) >= 20), because: "publishing has started");
        await using var late = await SseStream.OpenAsync(b.CreateClient(), "/pubsub/ticks", lastEventId: (before + 10).ToString());
        var events = await late.TakeAsync(count - 10);
        await publishing;
        Assert.Equal(Enumerable.Range(11, count - 10).Select(i => (before + i).ToString()), events.Select(e => e.Id));
    }

    [Fact]
    public async Task ALastEventIdOlderThanTheHistoryIsAnnouncedAsAGapBeforeTheRest()
    {
        var prefix = TestPrefix.New();
        var settings = new Dictionary<string, string?> { ["Hornbeam:PubSub:HistoryLength"] = "5" };
        await using var a = await HornbeamApiFactory.StartAsync(prefix, settings);
        var client = a.CreateClient();
        var before = (await PublishAsync(client, "feed", "1")).GetProperty("id").GetInt64() - 1;
        for (var i = 2; i <= 10; i++) await PublishAsync(client, "feed", i.ToString());

        await using var stream = await SseStream.OpenAsync(client, "/pubsub/feed", lastEventId: (before + 2).ToString());
        var gap = await stream.NextAsync();
        Assert.Equal("gap", gap.Event);
        Assert.Equal((before + 5).ToString(), gap.Id);
        Assert.Equal(before + 2, gap.Json.GetProperty("last_event_id").GetInt64());
        Assert.Equal(before + 5, gap.Json.GetProperty("resumes_after").GetInt64());
        Assert.Equal(Enumerable.Range(6, 5).Select(i => (before + i).ToString()), (await stream.TakeAsync(5)).Select(e => e.Id));

        await PublishAsync(client, "feed", "11");
        Assert.Equal((before + 11).ToString(), (await stream.NextAsync()).Id);
    }
}
