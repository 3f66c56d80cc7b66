using System.Threading.RateLimiting;
using Hornbeam.Api.Problems;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>Who may do what: API keys with scopes, and per-key rate limits.</summary>
public static class AccessSetup
{
    public static WebApplicationBuilder AddHornbeamAccess(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AccessOptions>().BindConfiguration(AccessOptions.Section);
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section);
        var access = builder.Configuration.GetSection(AccessOptions.Section).Get<AccessOptions>() ?? new AccessOptions();
        var enabled = access.Enabled ?? access.Keys.Count > 0;
        if (enabled && access.Keys.Count == 0)
            throw new InvalidOperationException("Hornbeam:Auth:Enabled is true but no Hornbeam:Auth:Keys are configured; add at least one key with its scopes.");
        if (access.Enabled is null && access.Keys.Count == 0 && !builder.Environment.IsDevelopment())
            throw new InvalidOperationException(
                "No API keys are configured (Hornbeam:Auth:Keys) outside the Development environment. Configure keys, " +
                "or set Hornbeam:Auth:Enabled=false to run without access control on purpose.");
        foreach (var key in access.Keys)
        {
            if (string.IsNullOrWhiteSpace(key.Key)) throw new InvalidOperationException("Every Hornbeam:Auth:Keys entry needs a non-empty Key.");
            if (key.Scopes.FirstOrDefault(s => !Scopes.All.Contains(s)) is { } unknown)
                throw new InvalidOperationException($"Unknown scope '{unknown}' in Hornbeam:Auth:Keys; known scopes: {string.Join(", ", Scopes.All)}.");
        }

        services.AddSingleton(sp => new AccessState(enabled,
            RateLimited: sp.GetRequiredService<IOptions<RateLimitOptions>>().Value.PermitsPerSecond > 0 || sp.GetRequiredService<ApiKeyStore>().AnyKeyLimited));
        services.AddSingleton<ApiKeyStore>();
        services.AddRateLimiter(o =>
        {
            var defaultPermits = builder.Configuration.GetSection(RateLimitOptions.Section).Get<RateLimitOptions>() ?? new RateLimitOptions();
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, (string, int)>(context =>
            {
                var key = context.Items.TryGetValue(typeof(ResolvedKey), out var found) ? (ResolvedKey)found! : null;
                var permits = key?.PermitsPerSecond ?? defaultPermits.PermitsPerSecond;
                var name = key is not null ? "key:" + key.Name : "ip:" + context.Connection.RemoteIpAddress;
                return permits <= 0
                    ? RateLimitPartition.GetNoLimiter((name, 0))
                    : RateLimitPartition.GetTokenBucketLimiter((name, permits), _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = Math.Max(permits, defaultPermits.Burst),
                        TokensPerPeriod = permits,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
            });
            o.OnRejected = async (context, _) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                context.HttpContext.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString();
                await context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context.HttpContext,
                    ProblemDetails = { Status = 429, Type = ProblemTypes.RateLimited, Title = "Too many requests", Detail = $"This key's rate limit is used up; retry after {retryAfter} s." },
                });
            };
        });
        return builder;
    }

    public static WebApplication UseHornbeamAccess(this WebApplication app)
    {
        var access = app.Services.GetRequiredService<AccessState>();
        if (!access.Enabled)
            app.Logger.LogWarning("Access control is OFF: every request is allowed. Configure Hornbeam:Auth:Keys before exposing this service.");
        // With access control off and no rate limit nothing reads a key, so a key a client sends anyway is not looked up.
        if (access.Enabled || access.RateLimited) app.UseMiddleware<AccessMiddleware>();
        // With no rate configured anywhere the limiter would only hand out no-op leases; leave it out of the pipeline.
        if (access.RateLimited) app.UseRateLimiter();
        return app;
    }

    /// <summary>The route needs an API key holding <paramref name="scope"/> (when access control is on).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ScopeMetadata(scope))
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
}

/// <summary>Whether keys are checked, and whether any rate limit is set (the limiter is in the pipeline).</summary>
internal sealed record AccessState(bool Enabled, bool RateLimited);

/// <summary>Per-key request rates, bound from <c>Hornbeam:RateLimit</c>.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "Hornbeam:RateLimit";

    /// <summary>Requests per second for each key (or client address without a key); 0 means no limit.</summary>
    public int PermitsPerSecond { get; set; }

    /// <summary>How many requests a key may make at once before the rate applies.</summary>
    public int Burst { get; set; }
}
