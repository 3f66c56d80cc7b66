using System.ComponentModel.DataAnnotations;

namespace Hornbeam.Api.Access;

/// <summary>One key that signs or verifies browser tokens.</summary>
public sealed class TokenSigningKeyOptions : IValidatableObject
{
    /// <summary>The shortest key HMAC-SHA256 is given: its own output size.</summary>
    public const int MinimumBytes = 32;

    /// <summary>The key's name, written into each token it signs (<c>kid</c>), so a verifier picks the key at once.</summary>
    public string Id { get; set; } = "";

    /// <summary>The secret, base64, at least 32 bytes once decoded (<c>openssl rand -base64 32</c>).</summary>
    public string Key { get; set; } = "";

    /// <summary>The decoded secret; empty when <see cref="Key"/> is not base64.</summary>
    public byte[] Bytes()
    {
        var buffer = new byte[Key.Length];
        return Convert.TryFromBase64String(Key, buffer, out var length) ? buffer[..length] : [];
    }

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(Id))
            yield return new ValidationResult("Every Hornbeam:Auth:Tokens:SigningKeys entry needs an Id.", [nameof(Id)]);
        if (Bytes().Length < MinimumBytes)
            yield return new ValidationResult($"Hornbeam:Auth:Tokens:SigningKeys entry '{Id}' needs a Key of at least {MinimumBytes} " +
                "bytes, written in base64 (e.g. the output of 'openssl rand -base64 32').", [nameof(Key)]);
    }
}
