using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Health;

/// <summary>What a load balancer asks: is the process alive, and can this replica serve.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task ReadyFollowsRedisWhileLiveStaysUp()
    {
        using var redis = await LocalRedisProcess.StartAsync();
        await using var api = new HornbeamApiFactory(redis.ConnectionString, TestPrefix.New());
        var client = api.CreateClient();
        var ready = await (await client.GetAsync("/health/ready")).ReadJsonAsync();
        Assert.Equal("ready", ready.GetProperty("status").GetString());

        redis.Stop();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable,
            because: "ready turns 503 when Redis is gone");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);

        await redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20), "ready recovers when Redis returns");
    }

    [Fact]
    public async Task MetricsAreScrapedInPrometheusFormat()
    {
        await using var api = await HornbeamApiFactory.StartAsync();
        var client = api.CreateClient();
        await client.PostAsync("/state/incr/m", null);
        await Poll.UntilAsync(async () => (await client.GetStringAsync("/metrics")).Contains("hornbeam_state_operations"),
            because: "state operations are counted");
    }
}
