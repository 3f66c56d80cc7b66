using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Hornbeam.Api.Problems;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>Authenticates <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c> against the configured keys.</summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyStore keys,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Presented(Request);
        if (presented is null) return Task.FromResult(AuthenticateResult.NoResult());
        var key = keys.Find(presented);
        if (key is null) return Task.FromResult(AuthenticateResult.Fail("The API key is not valid."));
        Context.Items[typeof(ResolvedKey)] = key;
        return Task.FromResult(AuthenticateResult.Success(key.Ticket));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        var detail = Presented(Request) is null
            ? "Send an API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'."
            : "The API key is not valid.";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = 401, Type = ProblemTypes.Unauthorized, Title = "Unauthorized", Detail = detail },
        });
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        var needed = Context.GetEndpoint()?.Metadata.GetMetadata<ScopeMetadata>()?.Scope ?? "another scope";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = 403, Type = ProblemTypes.Forbidden, Title = "Forbidden", Detail = $"This API key lacks the '{needed}' scope this route requires." },
        });
    }

    private static string? Presented(HttpRequest request)
    {
        if (request.Headers.TryGetValue("X-Api-Key", out var header) && header.ToString() is { Length: > 0 } direct) return direct;
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..].Trim() : null;
    }
}

/// <summary>The configured keys, held as SHA-256 digests and compared in constant time.</summary>
internal sealed class ApiKeyStore
{
    private readonly (byte[] Digest, ResolvedKey Key)[] _keys;

    public ApiKeyStore(IOptions<AccessOptions> options) =>
        _keys = options.Value.Keys.Select((k, i) => (Digest(k.Key), ResolvedKey.Create(k.Name ?? $"key{i + 1}", k.Scopes, k.PermitsPerSecond))).ToArray();

    /// <summary>Whether any key has a rate of its own.</summary>
    public bool AnyKeyLimited => _keys.Any(k => k.Key.PermitsPerSecond > 0);

    public ResolvedKey? Find(string presented)
    {
        var digest = Digest(presented);
        ResolvedKey? found = null;
        // Every key is compared, so the time taken says nothing about which key nearly matched.
        foreach (var (candidate, key) in _keys)
            if (CryptographicOperations.FixedTimeEquals(candidate, digest)) found = key;
        return found;
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

/// <summary>A configured key with the ticket every request that presents it gets; built once, never per request.</summary>
internal sealed record ResolvedKey(string Name, int? PermitsPerSecond, AuthenticationTicket Ticket)
{
    public static ResolvedKey Create(string name, IEnumerable<string> scopes, int? permitsPerSecond)
    {
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name), .. scopes.Select(s => new Claim("scope", s))], ApiKeyAuthenticationHandler.SchemeName);
        return new ResolvedKey(name, permitsPerSecond, new AuthenticationTicket(new ClaimsPrincipal(identity), ApiKeyAuthenticationHandler.SchemeName));
    }
}

/// <summary>Which scope a route requires, for the 403 message.</summary>
internal sealed record ScopeMetadata(string Scope);
