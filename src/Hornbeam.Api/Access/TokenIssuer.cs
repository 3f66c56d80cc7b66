using System.Buffers.Text;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hornbeam.Api.Access;

/// <summary>Mints browser tokens: compact JWTs signed with the first configured key (HMAC-SHA256), naming its id.</summary>
internal sealed class TokenIssuer(Microsoft.Extensions.Options.IOptions<AccessOptions> options, TimeProvider time)
{
    private readonly SigningCredentials? _signing = options.Value.Tokens.SigningKeys is [var first, ..]
        ? new SigningCredentials(SecurityKey(first), SecurityAlgorithms.HmacSha256)
        : null;

    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };

    public bool Enabled => _signing is not null;

    /// <summary>A token for <paramref name="subject"/> (the minting key's name) that expires <paramref name="ttl"/> from now.</summary>
    public (string Token, DateTimeOffset ExpiresAt) Issue(string subject, string[] scopes, string[]? topics, TimeSpan ttl)
    {
        var now = time.GetUtcNow();
        // exp is whole seconds; the answer says the instant the token really stops.
        var expires = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() + (long)ttl.TotalSeconds);
        var claims = new Dictionary<string, object>
        {
            [AccessClaims.Subject] = subject,
            [AccessClaims.Scope] = string.Join(' ', scopes),
            [AccessClaims.TokenId] = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16)),
        };
        if (topics is not null) claims[AccessClaims.Topics] = topics;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = TokenAuthentication.Issuer,
            Audience = TokenAuthentication.Audience,
            IssuedAt = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = claims,
            SigningCredentials = _signing ?? throw new InvalidOperationException("No token signing key is configured."),
        });
        return (token, expires);
    }

    public static SymmetricSecurityKey SecurityKey(TokenSigningKeyOptions key) => new(key.Bytes()) { KeyId = key.Id };
}
