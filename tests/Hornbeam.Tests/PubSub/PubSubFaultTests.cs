using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.PubSub;

/// <summary>Subscribers when Redis goes away or their node shuts down: told to reconnect, and nothing is lost when they do.</summary>
/// <remarks>Each test starts its own host: one stops its own Redis, one shuts its host down, one sets MaxSubscriptions to 2.</remarks>
public sealed class PubSubFaultTests
{
    [Fact]
    public async Task WhenRedisStopsSubscribersAreToldToReconnectAndResumeOnceItIsBack()
    {
        using var redis = await LocalRedisProcess.StartAsync();
        await using var api = new HornbeamApiFactory(redis.ConnectionString, TestPrefix.New());
        var client = api.CreateClient();
        await using var sse = await SseStream.OpenAsync(client, "/pubsub/alerts");
        await client.PostAsync("/pubsub/alerts", Http.Json("{\"n\":1}"));
        var first = await sse.NextAsync();
        Assert.Equal((sse.StartsAfter + 1).ToString(), first.Id);

        redis.Stop();
        var notice = await sse.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("reconnect", notice.Event);
        Assert.Equal(first.Id, notice.Json.GetProperty("last_event_id").GetInt64().ToString());
        Assert.Null(await sse.NextOrEndAsync());
        // Not a 503, on which EventSource would give up for good: a 200 stream that says when to reconnect.
        await using (var refused = await SseStream.ConnectAsync(client, "/pubsub/alerts", lastEventId: first.Id))
        {
            var retry = await refused.NextAsync(TimeSpan.FromSeconds(15));
            Assert.Equal("reconnect", retry.Event);
            Assert.Equal(3000, retry.Retry);
            Assert.Equal(first.Id, retry.Json.GetProperty("last_event_id").GetInt64().ToString());
            Assert.Contains("Redis", retry.Json.GetProperty("reason").GetString());
            Assert.Null(await refused.NextOrEndAsync());
        }

        await redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20), "the node recovers without a restart");
        await using var again = await SseStream.OpenAsync(client, "/pubsub/alerts", lastEventId: notice.Id ?? first.Id);
        await client.PostAsync("/pubsub/alerts", Http.Json("{\"n\":2}"));
        // Redis came back empty, so a new sequence started (from the time, above the old ids): the stream announces the gap,
        // then carries on with live messages.
        var gap = await again.NextAsync();
        Assert.Equal("gap", gap.Event);
        Assert.Equal(long.Parse(first.Id!), gap.Json.GetProperty("last_event_id").GetInt64());
        var next = await again.NextAsync();
        Assert.Equal(2, next.Json.GetProperty("n").GetInt32());
        Assert.True(long.Parse(next.Id!) > long.Parse(first.Id!),
            $"ids stay increasing across the lost sequence: {first.Id}, then {next.Id}");
    }

    [Fact]
    public async Task ANodeThatShutsDownEndsItsStreamsWithAReconnectNotice()
    {
        var api = await HornbeamApiFactory.StartAsync();
        var client = api.CreateClient();
        await using var sse = await SseStream.OpenAsync(client, "/pubsub/news");
        await client.PostAsync("/pubsub/news", Http.Json("\"one\""));
        var one = sse.StartsAfter + 1;
        Assert.Equal(one.ToString(), (await sse.NextAsync()).Id);

        var stopping = api.DisposeAsync();
        var notice = await sse.NextAsync();
        Assert.Equal("reconnect", notice.Event);
        Assert.Equal(one, notice.Json.GetProperty("last_event_id").GetInt64());
        await stopping;
    }

    [Fact]
    public async Task ANodeAtItsSubscriptionLimitTellsMoreSubscribersToReconnect()
    {
        await using var api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:PubSub:MaxSubscriptions"] = "2",
        });
        var client = api.CreateClient();
        await using var one = await SseStream.OpenAsync(client, "/pubsub/a");
        await using var two = await SseStream.OpenAsync(client, "/pubsub/b");
        await using var refused = await SseStream.ConnectAsync(client, "/pubsub/a");
        var reconnect = await refused.NextAsync();
        Assert.Equal("reconnect", reconnect.Event);
        Assert.Contains("MaxSubscriptions", reconnect.Json.GetProperty("reason").GetString());
        Assert.False(reconnect.Json.TryGetProperty("last_event_id", out _), "a client that gave no last event id is given none back");
        Assert.Null(await refused.NextOrEndAsync());
    }
}
