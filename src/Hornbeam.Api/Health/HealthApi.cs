using System.Text;
using System.Text.Json.Serialization;
using Hornbeam.Api.Access;
using Hornbeam.Api.Cluster;
using Hornbeam.Redis;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Health;

/// <summary>
/// Probes for load balancers and orchestrators, on the framework's health checks; they need no API key. Live runs the
/// checks tagged <see cref="LiveTag"/> (none: it asks nothing of Redis); ready runs every check tagged <see cref="ReadyTag"/>.
/// </summary>
public static class HealthApi
{
    /// <summary>The tag of the checks <c>/health/ready</c> runs.</summary>
    public const string ReadyTag = "ready";

    /// <summary>The tag of the checks <c>/health/live</c> runs; none by default, as liveness asks nothing of Redis.</summary>
    public const string LiveTag = "live";

    public static IServiceCollection AddHornbeamHealth(this IServiceCollection services)
    {
        // The probe's deadline is Hornbeam:Redis:DeadlineMs; bound here unless the host bound it already.
        if (!services.Any(d => d.ServiceType == typeof(IOptionsChangeTokenSource<RedisOptions>)))
            services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section);
        services.TryAddSingleton<RedisProbe>();
        services.AddHealthChecks()
            .AddCheck<RedisHealthCheck>("redis", tags: [ReadyTag])
            .AddCheck<PresenceReadiness>("presence", tags: [ReadyTag]);
        return services;
    }

    public static RouteGroupBuilder MapHealth(this IEndpointRouteBuilder routes)
    {
        // Route handlers over HealthCheckService rather than MapHealthChecks: the OpenAPI document only sees route handlers.
        var group = routes.MapGroup("/health").WithTags("Health").DisableRateLimiting();
        group.MapGet("/live", Live).WithName("HealthLive")
            .WithSummary("The process is running; asks nothing of Redis")
            .Produces<HealthStatus>(StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/ready", Ready).WithName("HealthReady")
            .WithSummary(
                "This replica can serve: it just wrote and read Redis within the deadline and its presence is current; 503 otherwise")
            .WithDescription("On Redis Cluster the probe writes to every master that owns slots. Per-check details are shown only " +
                             "to an admin key, or to anyone when access control is off; other callers see the status alone.")
            .Produces<HealthStatus>(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static async Task<Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>>> Live(HttpContext context, HealthCheckService health,
        CancellationToken cancellationToken) =>
        Answer(context, await health.CheckHealthAsync(check => check.Tags.Contains(LiveTag), cancellationToken), "live", "not live");

    public static async Task<Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>>> Ready(HttpContext context, HealthCheckService health,
        CancellationToken cancellationToken) =>
        Answer(context, await health.CheckHealthAsync(check => check.Tags.Contains(ReadyTag), cancellationToken), "ready", "not ready");

    /// <summary>
    /// 200 unless a check is unhealthy (degraded still serves); the per-check lines only for callers allowed to see
    /// them.
    /// </summary>
    private static Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>> Answer(HttpContext context, HealthReport report, string up,
        string down)
    {
        // A probe's answer is about now; no proxy or client may reuse it.
        context.Response.Headers.CacheControl = "no-store, no-cache";
        var healthy = report.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy;
        var status = new HealthStatus(healthy ? up : down,
            MaySeeDetails(context) ? report.Entries.ToDictionary(e => e.Key, e => e.Value.Description ?? e.Value.Status.ToString()) : null);
        return healthy ? TypedResults.Ok(status) : TypedResults.Json(status, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>
    /// Check details name Redis endpoints and errors, so only an admin key sees them, or anyone when access control is off.
    /// The route needs no key; authentication has still read the one sent.
    /// </summary>
    private static bool MaySeeDetails(HttpContext context)
    {
        if (context.RequestServices.GetService<AccessState>() is not { } access) return false;
        return !access.Enabled || context.User.HasClaim(AccessClaims.Scope, Scopes.Admin);
    }
}

/// <summary>A health answer: the overall status, and one line per check for callers allowed to see them.</summary>
public sealed record HealthStatus(
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Dictionary<string, string>? Checks = null);
