using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Redis;

/// <summary>
/// With tracing on, Redis commands are spans: AddRedisInstrumentation() finds the IConnectionMultiplexer singleton that
/// AddHornbeam registers, with nothing to hand it over.
/// </summary>
public sealed class RedisTracingTests
{
    [Fact]
    public async Task RedisCommandsAreTracedWhenTracingIsOn()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "OpenTelemetry.Instrumentation.StackExchangeRedis",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var prefix = TestPrefix.New();
        await using var api = await HornbeamApiFactory.StartAsync(prefix,
            new Dictionary<string, string?> { ["Hornbeam:Telemetry:Tracing"] = "true" });

        Assert.Equal(HttpStatusCode.NoContent, (await api.CreateClient().PutAsync("/state/traced", Http.Json("1"))).StatusCode);

        await Poll.UntilAsync(() => Task.FromResult(!spans.IsEmpty), TimeSpan.FromSeconds(30), "a span for a Redis command");
    }
}
