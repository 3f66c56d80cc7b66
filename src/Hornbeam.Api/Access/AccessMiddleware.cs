using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Hornbeam.Access;
using Hornbeam.Api.Problems;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Api.Access;

/// <summary>
/// Checks <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c> on every route that requires a scope:
/// 401 without a valid key, 403 when the key lacks the scope. One lookup and one comparison per request, in place of
/// ASP.NET Core's authentication and authorization middleware, whose handler, claims and policy evaluation cost more
/// than the Redis command behind the hottest routes. Then the key's rate limit, one budget in Redis shared by every
/// replica (one script call, batched with other requests' calls), in place of the framework's rate limiter, whose
/// budgets live in one process. Without a limit no Redis call is made here.
/// </summary>
internal sealed class AccessMiddleware(RequestDelegate next, ApiKeyStore keys, AccessState access, IProblemDetailsService problems,
    SharedRateLimiter limiter, FailedAttempts failures, ILogger<AccessMiddleware> logger)
{
    private long _lastLimiterWarning = long.MinValue / 2;

    public Task InvokeAsync(HttpContext context)
    {
        var presented = Presented(context.Request);
        // Resolved on every route, so the rate limit counts a key's requests wherever they go.
        ResolvedKey? key = null;
        var remembered = false;
        if (presented is not null) key = Resolve(context, presented, out remembered);

        if (access.Enabled && context.GetEndpoint()?.Metadata.GetMetadata<ScopeMetadata>() is { } required)
        {
            // An address past its failed attempts is refused before its key is judged, so a 429 says nothing about
            // whether a guess was right. Only a connection that proved its key earlier goes on.
            if (presented is not null && !remembered && access.FailedAttemptsPerMinute > 0 && failures.BlockedFor(context) is { } left)
                return TooManyFailuresAsync(context, left);
            if (key is null) return presented is null ? UnauthorizedAsync(context, noKey: true) : FailedAttemptAsync(context);
            if (!key.Holds(required.Scope)) return ForbiddenAsync(context, required.Scope);
        }
        // Routes that opt out (the health probes) are never limited: a probe answered 429 would take a healthy replica out.
        if (!access.RateLimited
            || context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.RateLimiting.DisableRateLimitingAttribute>() is not null)
            return next(context);
        if (key is not null) return key.Budget is { } budget ? LimitedAsync(context, budget) : next(context);
        return access.DefaultPermits > 0
            ? LimitedAsync(context,
                limiter.Budget("ip:" + FailedAttempts.Address(context), access.DefaultPermits, access.Burst(access.DefaultPermits)))
            : next(context);
    }

    /// <summary>
    /// Spends one permit of the key's budget (the client address's without a key), shared by every replica in Redis.
    /// When Redis cannot answer within the limiter's wait the request goes on unlimited: the limiter guards fairness,
    /// not correctness, and the request's own Redis work then answers the outage with the 503 that says what happened.
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
        var retryAfter = Seconds(wait);
        await TooManyAsync(context, retryAfter,
            $"The rate limit of this key (of this address, for requests without a key) is used up; retry after {retryAfter} s.");
    }

    /// <summary>Counts an invalid key against the client's address (in Redis, for all replicas); 401, or 429 past the limit.</summary>
    private async Task FailedAttemptAsync(HttpContext context)
    {
        if (access.FailedAttemptsPerMinute > 0 && await failures.CountAsync(context, access.LimiterWait) is { } left)
        {
            await TooManyFailuresAsync(context, left);
            return;
        }
        await UnauthorizedAsync(context, noKey: false);
    }

    private Task TooManyFailuresAsync(HttpContext context, TimeSpan left)
    {
        var retryAfter = Seconds(left);
        return TooManyAsync(context, retryAfter, $"Too many invalid API keys from this address; retry after {retryAfter} s.");
    }

    private async Task TooManyAsync(HttpContext context, int retryAfter, string detail)
    {
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = 429, Type = ProblemTypes.RateLimited, Title = "Too many requests", Detail = detail },
        });
    }

    private static int Seconds(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));

    // Once per ten seconds at most: during an outage every request would log it.
    private void WarnLimiterOpen(Exception e)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastLimiterWarning);
        if (now - last < 10_000 || Interlocked.CompareExchange(ref _lastLimiterWarning, now, last) != last) return;
        logger.LogWarning("The shared rate limit could not be checked in Redis ({Message}); requests go on unlimited until it can.",
            e.Message);
    }

    /// <summary>
    /// A client sends the same key on every request of a keep-alive connection. After one full check the connection
    /// remembers that key's bytes, and its later requests are compared with them in constant time instead of being
    /// hashed again: a SHA-256 per request was a visible share of a whole state call's CPU. Any other key
    /// gets the full check. A connection only ever remembers a key its own client sent.
    /// </summary>
    private ResolvedKey? Resolve(HttpContext context, string presented, out bool remembered)
    {
        remembered = false;
        var most = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var buffer = most <= 512 ? stackalloc byte[512] : new byte[most];
        var utf8 = buffer[..Encoding.UTF8.GetBytes(presented, buffer)];

        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(typeof(VerifiedKey), out var memo) && memo is VerifiedKey verified
            && CryptographicOperations.FixedTimeEquals(utf8, verified.Utf8))
        {
            remembered = true;
            return verified.Key;
        }
        var key = keys.Find(utf8);
        if (key is not null && items is not null) items[typeof(VerifiedKey)] = new VerifiedKey(utf8.ToArray(), key);
        return key;
    }

    private async Task UnauthorizedAsync(HttpContext context, bool noKey)
    {
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        var detail = noKey ? "Send an API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'." : "The API key is not valid.";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = 401, Type = ProblemTypes.Unauthorized, Title = "Unauthorized", Detail = detail },
        });
    }

    private async Task ForbiddenAsync(HttpContext context, string scope)
    {
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = 403, Type = ProblemTypes.Forbidden, Title = "Forbidden",
                Detail = $"This API key lacks the '{scope}' scope this route requires." },
        });
    }

    internal static string? Presented(HttpRequest request)
    {
        var headers = request.Headers;
        if (headers.TryGetValue("X-Api-Key", out var header) && header.ToString() is { Length: > 0 } direct) return direct;
        var authorization = headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..].Trim() : null;
    }
}

/// <summary>The configured keys, held as SHA-256 digests and compared in constant time.</summary>
internal sealed class ApiKeyStore
{
    private readonly (byte[] Digest, ResolvedKey Key)[] _keys;

    public ApiKeyStore(IOptions<AccessOptions> options, AccessState access, SharedRateLimiter limiter) =>
        _keys = options.Value.Keys.Select((k, i) =>
        {
            var name = k.Name ?? $"key{i + 1}";
            // A key's own rate overrides the default, and 0 means no limit for this key.
            var permits = k.PermitsPerSecond ?? access.DefaultPermits;
            var budget = permits > 0 ? limiter.Budget("key:" + name, permits, access.Burst(permits)) : null;
            return (Digest(k.Key), new ResolvedKey(name, [.. k.Scopes], budget));
        }).ToArray();

    /// <summary>The configured key whose UTF-8 bytes are <paramref name="presented"/>, or null.</summary>
    public ResolvedKey? Find(ReadOnlySpan<byte> presented)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(presented, digest);
        ResolvedKey? found = null;
        // Every key is compared, so the time taken says nothing about which key nearly matched.
        foreach (var (candidate, key) in _keys)
            if (CryptographicOperations.FixedTimeEquals(candidate, digest)) found = key;
        return found;
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

/// <summary>A key (its UTF-8 bytes) one connection presented and that passed the full check.</summary>
internal sealed record VerifiedKey(byte[] Utf8, ResolvedKey Key);

/// <summary>A configured key: its name (for its budget and logs, never the secret), scopes and request budget (null: no limit).</summary>
internal sealed record ResolvedKey(string Name, string[] Scopes, RateBudget? Budget)
{
    public bool Holds(string scope) => Array.IndexOf(Scopes, scope) >= 0;
}

/// <summary>Which scope a route requires; read by <see cref="AccessMiddleware"/>, the 403 message and the OpenAPI document.</summary>
internal sealed record ScopeMetadata(string Scope);
