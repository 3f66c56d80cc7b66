using Hornbeam.Access;
using StackExchange.Redis;

namespace Hornbeam.Api.Access;

/// <summary>
/// The rate limit, after authentication and authorization: one budget in Redis per API key (per token, per client address
/// without either), shared by every replica (one script call, batched with other requests' calls), in place of the
/// framework's rate limiter, whose budgets live in one process. Without a limit no Redis call is made here.
/// </summary>
internal sealed class RateLimitMiddleware(RequestDelegate next, AccessState access, SharedRateLimiter limiter,
    ILogger<RateLimitMiddleware> logger)
{
    private long _lastLimiterWarning = long.MinValue / 2;

    public Task InvokeAsync(HttpContext context)
    {
        // Routes that opt out (the health probes) are never limited: a probe answered 429 would take a healthy replica out.
        if (context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.RateLimiting.DisableRateLimitingAttribute>() is not null)
            return next(context);
        if (context.User.Identity is AccessIdentity identity)
            return identity.Budget is { } budget ? LimitedAsync(context, budget) : next(context);
        return access.DefaultPermits > 0
            ? LimitedAsync(context,
                limiter.Budget("ip:" + FailedAttempts.Address(context), access.DefaultPermits, access.Burst(access.DefaultPermits)))
            : next(context);
    }

    /// <summary>
    /// Spends one permit of the budget, shared by every replica in Redis. When Redis cannot answer within the limiter's
    /// wait the request goes on unlimited: the limiter guards fairness, not correctness, and the request's own Redis work
    /// then answers the outage with the 503 that says what happened.
    /// </summary>
    private async Task LimitedAsync(HttpContext context, RateBudget budget)
    {
        TimeSpan wait;
        try
        {
            wait = await limiter.AcquireAsync(budget).WaitAsync(access.LimiterWait);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            WarnLimiterOpen(e);
            wait = TimeSpan.Zero;
        }
        if (wait <= TimeSpan.Zero)
        {
            await next(context);
            return;
        }
        await AccessProblems.TooManyAsync(context, wait, "The rate limit of this key (of this token; of this address, for requests " +
            $"without either) is used up; retry after {AccessProblems.Seconds(wait)} s.");
    }

    // Once per ten seconds at most: during an outage every request would log it.
    private void WarnLimiterOpen(Exception e)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastLimiterWarning);
        if (now - last < 10_000 || Interlocked.CompareExchange(ref _lastLimiterWarning, now, last) != last) return;
        logger.LogWarning("The shared rate limit could not be checked in Redis ({Message}); requests go on unlimited until it can.",
            e.Message);
    }
}

/// <summary>Which scope a route requires; read by the OpenAPI document (the check itself is the scope's policy).</summary>
internal sealed record ScopeMetadata(string Scope);
