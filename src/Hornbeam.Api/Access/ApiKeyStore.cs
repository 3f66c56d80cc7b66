using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Hornbeam.Access;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>The configured keys, held as SHA-256 digests and compared in constant time.</summary>
internal sealed class ApiKeyStore
{
    private readonly (byte[] Digest, ResolvedKey Key)[] _keys;
    private readonly Dictionary<string, ResolvedKey> _byName;

    public ApiKeyStore(IOptions<AccessOptions> options, AccessState access, SharedRateLimiter limiter)
    {
        _keys = options.Value.Keys.Select((k, i) =>
        {
            var name = k.Name ?? $"key{i + 1}";
            // A key's own rate overrides the default, and 0 means no limit for this key.
            var permits = k.PermitsPerSecond ?? access.DefaultPermits;
            var budget = permits > 0 ? limiter.Budget("key:" + name, permits, access.Burst(permits)) : null;
            return (Digest(k.Key), new ResolvedKey(name, [.. k.Scopes], permits, budget));
        }).ToArray();
        _byName = _keys.Select(k => k.Key).DistinctBy(k => k.Name, StringComparer.Ordinal)
            .ToDictionary(k => k.Name, StringComparer.Ordinal);
    }

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

    /// <summary>The configured key named <paramref name="name"/> (the one that minted a token), or null.</summary>
    public ResolvedKey? Named(string? name) => name is not null && _byName.TryGetValue(name, out var key) ? key : null;

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

/// <summary>
/// A configured key: its name (for its budget and logs, never the secret), scopes, rate (0: none) and request budget
/// (null: no limit), and the authentication result every request proving it gets: the identity never changes, so it is
/// built once instead of once per request.
/// </summary>
internal sealed class ResolvedKey(string name, string[] scopes, int permits, RateBudget? budget)
{
    public string Name => name;

    public string[] Scopes => scopes;

    public int Permits => permits;

    public RateBudget? Budget => budget;

    public ClaimsPrincipal Principal { get; } =
        new(new AccessIdentity(AccessSchemes.ApiKey, name, scopes, topics: null, budget, expires: null));

    public Task<AuthenticateResult> Authenticated => _authenticated ??=
        Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(Principal, AccessSchemes.ApiKey)));

    private Task<AuthenticateResult>? _authenticated;

    public bool Holds(string scope) => Array.IndexOf(scopes, scope) >= 0;
}
