using System.Security.Cryptography;
using System.Text;
using Hornbeam.Api.Problems;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>
/// Checks <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c> on every route that requires a scope:
/// 401 without a valid key, 403 when the key lacks the scope. One lookup and one comparison per request, in place of
/// ASP.NET Core's authentication and authorization middleware, whose handler, claims and policy evaluation cost more
/// than the Redis command behind the hottest routes.
/// </summary>
internal sealed class AccessMiddleware(RequestDelegate next, ApiKeyStore keys, AccessState access, IProblemDetailsService problems)
{
    public Task InvokeAsync(HttpContext context)
    {
        var presented = Presented(context.Request);
        // Resolved on every route, so the rate limiter counts a key's requests wherever they go. Only the limiter reads
        // the key from the request's items, so without one the request gets no items dictionary.
        var key = presented is null ? null : Resolve(context, presented);
        if (key is not null && access.RateLimited) context.Items[typeof(ResolvedKey)] = key;

        if (!access.Enabled || context.GetEndpoint()?.Metadata.GetMetadata<ScopeMetadata>() is not { } required) return next(context);
        if (key is null) return UnauthorizedAsync(context, presented is null);
        if (!key.Holds(required.Scope)) return ForbiddenAsync(context, required.Scope);
        return next(context);
    }

    /// <summary>
    /// A client sends the same key on every request of a keep-alive connection. After one full check the connection
    /// remembers that key's bytes, and its later requests are compared with them in constant time instead of being
    /// hashed again: OpenSSL's SHA-256 cost about 5 µs of CPU per request, a tenth of a whole state call. Any other key
    /// gets the full check. A connection only ever remembers a key its own client sent.
    /// </summary>
    private ResolvedKey? Resolve(HttpContext context, string presented)
    {
        var most = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var buffer = most <= 512 ? stackalloc byte[512] : new byte[most];
        var utf8 = buffer[..Encoding.UTF8.GetBytes(presented, buffer)];

        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(typeof(VerifiedKey), out var memo) && memo is VerifiedKey verified
            && CryptographicOperations.FixedTimeEquals(utf8, verified.Utf8))
            return verified.Key;
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
            ProblemDetails = { Status = 403, Type = ProblemTypes.Forbidden, Title = "Forbidden", Detail = $"This API key lacks the '{scope}' scope this route requires." },
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

    public ApiKeyStore(IOptions<AccessOptions> options) =>
        _keys = options.Value.Keys.Select((k, i) => (Digest(k.Key), new ResolvedKey(k.Name ?? $"key{i + 1}", [.. k.Scopes], k.PermitsPerSecond))).ToArray();

    /// <summary>Whether any key has a rate of its own.</summary>
    public bool AnyKeyLimited => _keys.Any(k => k.Key.PermitsPerSecond > 0);

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

/// <summary>A configured key: its name (for rate-limit partitions and logs, never the secret), scopes and rate.</summary>
internal sealed record ResolvedKey(string Name, string[] Scopes, int? PermitsPerSecond)
{
    public bool Holds(string scope) => Array.IndexOf(Scopes, scope) >= 0;
}

/// <summary>Which scope a route requires; read by <see cref="AccessMiddleware"/>, the 403 message and the OpenAPI document.</summary>
internal sealed record ScopeMetadata(string Scope);
