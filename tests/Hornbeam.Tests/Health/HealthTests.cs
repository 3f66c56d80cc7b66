using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Health;

/// <summary>What a monitoring system scrapes besides the probes.</summary>
public sealed class HealthTests
{
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
