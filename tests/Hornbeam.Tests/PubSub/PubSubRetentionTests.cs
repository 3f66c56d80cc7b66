using System.Diagnostics;
using System.Net;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.PubSub;

/// <summary>A topic's keys do not outlive its retention, and its ids keep increasing when a new sequence starts.</summary>
[Trait("Redis", "Cluster")]
public sealed class PubSubRetentionTests(PubSubRetentionHost host) : IClassFixture<PubSubRetentionHost>
{
    private static async Task<long> PublishAsync(HttpClient client, string topic, string json)
    {
        var response = await client.PostAsync($"/pubsub/{topic}", Http.Json(json));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("id").GetInt64();
    }

    private static string NewTopic() => $"retained:{Guid.NewGuid():N}";

    [Fact]
    public async Task ATopicsSequenceExpiresAfterItsRetentionAndAnOldLastEventIdThenGetsAGapBeforeHigherIds()
    {
        var (client, db, keys) = await host.OpenAsync();
        var topic = NewTopic();
        var k = keys.PubSubTopic(topic);
        long last = 0;
        for (var i = 1; i <= 3; i++) last = await PublishAsync(client, topic, i.ToString());

        var ttl = await db.KeyTimeToLiveAsync(k.Sequence);
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMilliseconds(1), PubSubRetentionHost.Retention);
        var clock = Stopwatch.StartNew();
        await Poll.UntilAsync(async () => !await db.KeyExistsAsync(k.Sequence), TimeSpan.FromSeconds(10),
            "the sequence expires with the retention");
        Assert.True(clock.Elapsed < PubSubRetentionHost.Retention + TimeSpan.FromSeconds(2),
            $"the sequence outlived its retention by {clock.Elapsed}");
        Assert.False(await db.KeyExistsAsync(k.History), "the history expired too");

        // A client that saw the old sequence resumes: it is told that it missed messages, then gets the new ones, above its id.
        await using var resumed = await SseStream.OpenAsync(client, $"/pubsub/{topic}", lastEventId: last.ToString());
        var gap = await resumed.NextAsync();
        Assert.Equal("gap", gap.Event);
        Assert.Equal(last, gap.Json.GetProperty("last_event_id").GetInt64());
        Assert.True(gap.Json.GetProperty("resumes_after").GetInt64() > last, "the new sequence starts above every old id");
        var next = await PublishAsync(client, topic, "4");
        Assert.True(next > last, $"ids keep increasing across sequences: {last}, then {next}");
        var message = await resumed.NextAsync();
        Assert.Equal(("message", next.ToString(), "4"), (message.Event, message.Id, message.Data));
    }

    [Fact]
    public async Task AQuietTopicWithASubscriberKeepsItsSequenceSoItsIdsContinueWithoutAGap()
    {
        var (client, db, keys) = await host.OpenAsync();
        var topic = NewTopic();
        var k = keys.PubSubTopic(topic);
        await using var stream = await SseStream.OpenAsync(client, $"/pubsub/{topic}");
        var first = await PublishAsync(client, topic, "1");
        Assert.Equal(first.ToString(), (await stream.NextAsync()).Id);

        await Poll.UntilAsync(async () => !await db.KeyExistsAsync(k.History), TimeSpan.FromSeconds(10),
            "the history expires with the retention");
        Assert.True(await db.KeyExistsAsync(k.Sequence), "the subscribed node's heartbeat keeps the sequence");
        var second = await PublishAsync(client, topic, "2");
        Assert.Equal(first + 1, second);
        var message = await stream.NextAsync();
        Assert.Equal(("message", second.ToString()), (message.Event, message.Id));
    }

    [Fact]
    public async Task NoKeyOfATopicOutlivesItsRetentionOnceItsSubscribersLeave()
    {
        var (client, db, keys) = await host.OpenAsync();
        var topic = NewTopic();
        var k = keys.PubSubTopic(topic);
        var stream = await SseStream.OpenAsync(client, $"/pubsub/{topic}");
        await PublishAsync(client, topic, "1");
        Assert.NotNull(await db.SortedSetScoreAsync(keys.PubSubTopics, topic));
        await stream.DisposeAsync();

        RedisKey[] all = [k.Sequence, k.History, k.Nodes, k.Alive];
        await Poll.UntilAsync(async () =>
        {
            foreach (var key in all)
                if (await db.KeyExistsAsync(key)) return false;
            return await db.SortedSetScoreAsync(keys.PubSubTopics, topic) is null;
        }, TimeSpan.FromSeconds(10), "every key of the topic, and its registry entry, is gone");
    }
}

/// <summary>One API host with a short pub/sub retention (and count expiry), shared by <see cref="PubSubRetentionTests"/>.</summary>
public sealed class PubSubRetentionHost : IAsyncLifetime
{
    public static readonly TimeSpan Retention = TimeSpan.FromSeconds(1);

    private readonly Lazy<Task<HornbeamApiFactory>> _api = new(() => HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Hornbeam:PubSub:HistoryAge"] = Retention.ToString(),
        ["Hornbeam:PubSub:HeartbeatInterval"] = "00:00:00.100",
        ["Hornbeam:PubSub:NodeExpiry"] = "00:00:00.500",
    }));

    public async Task<(HttpClient Client, IDatabase Db, RedisKeys Keys)> OpenAsync()
    {
        var api = await _api.Value;
        return (
            api.CreateClient(),
            api.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase(),
            api.Services.GetRequiredService<RedisKeys>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_api.IsValueCreated) await (await _api.Value).DisposeAsync();
    }
}
