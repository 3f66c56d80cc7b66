using System.Security.Cryptography;
using System.Text;

namespace Hornbeam.Idempotency;

/// <summary>
/// A request that must apply at most once: the caller's <paramref name="Key"/> (an <c>Idempotency-Key</c>) within its
/// <paramref name="Scope"/> (whose credential sent it), and a <paramref name="Fingerprint"/> of what it asks for, so a
/// key reused for a different request is refused rather than answered with another request's result.
/// </summary>
public sealed record IdempotentRequest(string Scope, string Key, string Fingerprint)
{
    /// <summary>Checks a client's <c>Idempotency-Key</c>: 1 to 255 printable ASCII characters.</summary>
    public static string? Problem(string key)
    {
        if (key.Length is 0 or > IdempotencyOptions.MaxKeyLength)
            return $"Idempotency-Key must be 1 to {IdempotencyOptions.MaxKeyLength} characters long; it was {key.Length}.";
        foreach (var c in key)
            if (c is < '!' or > '~') return "Idempotency-Key may hold only printable ASCII characters (no spaces), such as a UUID.";
        return null;
    }

    /// <summary>The record's name in Redis: a digest, so any key text makes a short key with no hash tag of its own.</summary>
    internal string RecordId { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Scope + "\n" + Key)))[..32];
}

/// <summary>An answer kept for replay: its status, content type, <c>Location</c> and body.</summary>
public sealed record StoredAnswer(int Status, string? ContentType, string? Location, byte[] Body);

/// <summary>What claiming an idempotent request found.</summary>
public abstract record IdempotencyClaim
{
    private IdempotencyClaim() { }

    /// <summary>This request is the first with its key: run it, then record or release it.</summary>
    public sealed record Claimed : IdempotencyClaim;

    /// <summary>An earlier request with this key answered: send its answer again.</summary>
    public sealed record Answered(StoredAnswer Answer) : IdempotencyClaim;
}
