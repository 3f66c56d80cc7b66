using System.Diagnostics;
using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Health;

/// <summary>Ready follows a Redis of its own that the tests stop and restart under one host, which is never restarted.</summary>
public sealed class ReadinessOutageTests(ReadinessOutageTests.Host host) : IClassFixture<ReadinessOutageTests.Host>
{
    private const int DeadlineMs = 1000;

    [Fact]
    public async Task ReadyIsOkWithEveryCheckOnAHealthyRedisAndLiveAsksNothingOfRedis()
    {
        var client = host.Api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "ready on a healthy Redis");
        var ready = await (await client.GetAsync("/health/ready")).ReadJsonAsync();
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        // Access control is off here, so the details show: a real round trip to Redis and the node's presence.
        Assert.StartsWith("read and write in ", ready.GetProperty("checks").GetProperty("redis").GetString());
        Assert.StartsWith("current", ready.GetProperty("checks").GetProperty("presence").GetString());

        var live = await client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("live", (await live.ReadJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ReadyAnswers503WithinTheDeadlineOnceRedisStopsAndOkAgainWhenItReturnsWithoutRestartingTheHost()
    {
        var client = host.Api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "ready before the outage");

        host.Redis.Stop();
        var stopped = Stopwatch.StartNew();
        await Poll.UntilAsync(async () =>
        {
            var asked = Stopwatch.StartNew();
            var response = await client.GetAsync("/health/ready");
            Assert.True(asked.ElapsedMilliseconds < DeadlineMs + 1000, $"a readiness answer took {asked.ElapsedMilliseconds} ms");
            return response.StatusCode == HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromMilliseconds(DeadlineMs + 1000), "ready turns 503 within the deadline once Redis is gone");
        Assert.True(stopped.ElapsedMilliseconds < DeadlineMs + 1000, $"503 came {stopped.ElapsedMilliseconds} ms after Redis stopped");
        var notReady = await client.GetAsync("/health/ready");
        Assert.Equal("not ready", (await notReady.ReadJsonAsync()).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);

        await host.Redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "ready again once Redis returns, with the same host");
    }

    [Fact]
    public async Task ReadyAnswers503WithinTheDeadlineWhileRedisHangsAndOkOnceItAnswersAgain()
    {
        var client = host.Api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "ready before Redis hangs");

        // DEBUG SLEEP holds the whole server, as a stalled Redis does: connections stay open and nothing answers.
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(
            host.Redis.ConnectionString + ",allowAdmin=true,asyncTimeout=10000");
        var hang = admin.GetDatabase().ExecuteAsync("DEBUG", "SLEEP", "4");
        await Poll.UntilAsync(async () =>
        {
            var asked = Stopwatch.StartNew();
            var response = await client.GetAsync("/health/ready");
            Assert.True(asked.ElapsedMilliseconds < DeadlineMs + 1000, $"a readiness answer took {asked.ElapsedMilliseconds} ms");
            return response.StatusCode == HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromSeconds(3), "ready turns 503 within the deadline while Redis hangs");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);

        await hang;
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(15), "ready again once Redis answers");
    }

    /// <summary>One redis-server process of this class's own and one host on it, with a short Redis deadline.</summary>
    public sealed class Host : IAsyncLifetime
    {
        public LocalRedisProcess Redis { get; private set; } = null!;

        public HornbeamApiFactory Api { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Redis = await LocalRedisProcess.StartAsync(null, "--enable-debug-command", "local");
            Api = new HornbeamApiFactory(Redis.ConnectionString, TestPrefix.New(),
                new Dictionary<string, string?> { ["Hornbeam:Redis:DeadlineMs"] = DeadlineMs.ToString() });
        }

        public async Task DisposeAsync()
        {
            await Api.DisposeAsync();
            Redis.Dispose();
        }
    }
}
