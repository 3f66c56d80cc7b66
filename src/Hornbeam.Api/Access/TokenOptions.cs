using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>
/// Browser tokens, bound from <c>Hornbeam:Auth:Tokens</c>: the keys that sign and verify them and how long one may live.
/// Without signing keys no token is minted or accepted.
/// </summary>
public sealed class TokenOptions : IValidatableObject
{
    /// <summary>
    /// HMAC-SHA256 keys. The first signs new tokens; every listed key verifies, so a key is rotated by putting its successor
    /// first and removing it once the tokens it signed have expired.
    /// </summary>
    [ValidateEnumeratedItems]
    public List<TokenSigningKeyOptions> SigningKeys { get; set; } = [];

    /// <summary>The longest <c>ttl_seconds</c> a token request may ask for.</summary>
    public int MaxTtlSeconds { get; set; } = 3600;

    /// <summary>Whether tokens are minted and accepted: when signing keys are configured.</summary>
    public bool Enabled => SigningKeys.Count > 0;

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (MaxTtlSeconds is < 1 or > 86_400)
            yield return new ValidationResult("Hornbeam:Auth:Tokens:MaxTtlSeconds must be between 1 and 86400 (a day).",
                [nameof(MaxTtlSeconds)]);
        if (SigningKeys.GroupBy(k => k.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            yield return new ValidationResult(
                $"Hornbeam:Auth:Tokens:SigningKeys has the Id '{twice.Key}' twice; each key needs its own Id.",
                [nameof(SigningKeys)]);
    }
}
