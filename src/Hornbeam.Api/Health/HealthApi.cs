using Microsoft.AspNetCore.Http.HttpResults;
using StackExchange.Redis;

namespace Hornbeam.Api.Health;

/// <summary>Probes for load balancers and orchestrators; they need no API key.</summary>
public static class HealthApi
{
    public static RouteGroupBuilder MapHealth(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/health").WithTags("Health").DisableRateLimiting();
        group.MapGet("/live", Live).WithName("HealthLive").WithSummary("The process is running");
        group.MapGet("/ready", Ready).WithName("HealthReady")
            .WithSummary("This replica can serve: Redis answers and its node presence is current; 503 otherwise")
            .Produces<HealthStatus>(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static Ok<HealthStatus> Live() => TypedResults.Ok(new HealthStatus("live", new Dictionary<string, string> { ["process"] = "running" }));

    public static async Task<Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>>> Ready(IServiceProvider services, IEnumerable<IReadinessCheck> checks)
    {
        var results = new Dictionary<string, string>();
        var ready = true;
        var redis = services.GetRequiredService<IConnectionMultiplexer>();
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(1));
            // On a cluster every master must be reachable, or the keys in its slots fail.
            var down = redis.GetServers().Where(s => !s.IsReplica && !s.IsConnected).Select(s => s.EndPoint.ToString()).ToArray();
            results["redis"] = down.Length == 0 ? $"ok ({latency.TotalMilliseconds:0.#} ms)" : "not connected to " + string.Join(", ", down);
            ready = down.Length == 0;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            results["redis"] = "unreachable: " + e.Message;
            ready = false;
        }
        foreach (var check in checks)
        {
            var (ok, detail) = await check.CheckAsync();
            results[check.Name] = detail;
            ready &= ok;
        }
        var status = new HealthStatus(ready ? "ready" : "not ready", results);
        return ready ? TypedResults.Ok(status) : TypedResults.Json(status, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}

/// <summary>A health answer: overall status and one line per check.</summary>
public sealed record HealthStatus(string Status, Dictionary<string, string> Checks);

/// <summary>A capability that must be healthy for this replica to take traffic (e.g. node presence).</summary>
public interface IReadinessCheck
{
    string Name { get; }

    Task<(bool Ready, string Detail)> CheckAsync();
}
