using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.PubSub;

/// <summary>Subscribers when Redis goes away or their node shuts down: told to reconnect, and nothing is lost when they do.</summary>
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
        Assert.Equal("1", first.Id);

        redis.Stop();
        var notice = await sse.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("reconnect", notice.Event);
        Assert.Equal(1, notice.Json.GetProperty("last_event_id").GetInt64());
        Assert.Null(await sse.NextOrEndAsync());
        await (await client.GetAsync("/pubsub/alerts")).AssertProblemAsync(503, Api.Problems.ProblemTypes.RedisUnavailable);

        await redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20), "the node recovers without a restart");
        await using var again = await SseStream.OpenAsync(client, "/pubsub/alerts", lastEventId: notice.Id ?? "1");
        await client.PostAsync("/pubsub/alerts", Http.Json("{\"n\":2}"));
        // Redis came back empty, so ids restarted: the stream says so, then carries on with live messages.
        SseEvent next;
        do next = await again.NextAsync(); while (next.Event == "gap");
        Assert.Equal(2, next.Json.GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task ANodeThatShutsDownEndsItsStreamsWithAReconnectNotice()
    {
        var api = await HornbeamApiFactory.StartAsync();
        var client = api.CreateClient();
        await using var sse = await SseStream.OpenAsync(client, "/pubsub/news");
        await client.PostAsync("/pubsub/news", Http.Json("\"one\""));
        Assert.Equal("1", (await sse.NextAsync()).Id);

        var stopping = api.DisposeAsync();
        var notice = await sse.NextAsync();
        Assert.Equal("reconnect", notice.Event);
        Assert.Equal(1, notice.Json.GetProperty("last_event_id").GetInt64());
        await stopping;
    }

    [Fact]
    public async Task ANodeAtItsSubscriptionLimitRefusesMoreWith503()
    {
        await using var api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?> { ["Hornbeam:PubSub:MaxSubscriptions"] = "2" });
        var client = api.CreateClient();
        await using var one = await SseStream.OpenAsync(client, "/pubsub/a");
        await using var two = await SseStream.OpenAsync(client, "/pubsub/b");
        var refused = await client.GetAsync("/pubsub/a", HttpCompletionOption.ResponseHeadersRead);
        var problem = await refused.AssertProblemAsync(503, Api.Problems.ProblemTypes.Overloaded);
        Assert.Contains("MaxSubscriptions", problem.GetProperty("detail").GetString());
    }
}
