using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;

namespace Hornbeam.Api.Access;

/// <summary>
/// A client sends the same key on every request of a keep-alive connection. After one full check (the
/// <see cref="ApiKeyAuthenticationHandler"/>'s) the connection remembers that key's bytes, and its later requests are
/// compared with them in constant time instead of being hashed again: a SHA-256 per request was a visible share of a whole
/// state call's CPU. Any other key gets the full check. A connection only ever remembers a key its own client sent.
/// </summary>
internal static class ConnectionKey
{
    /// <summary>The key this connection proved, when <paramref name="presented"/> is that key; else null.</summary>
    public static ResolvedKey? Remembered(HttpContext context, string presented)
    {
        if (context.Features.Get<IConnectionItemsFeature>()?.Items is not { } items
            || !items.TryGetValue(typeof(VerifiedKey), out var memo) || memo is not VerifiedKey verified) return null;
        var most = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var buffer = most <= 512 ? stackalloc byte[512] : new byte[most];
        var utf8 = buffer[..Encoding.UTF8.GetBytes(presented, buffer)];
        return CryptographicOperations.FixedTimeEquals(utf8, verified.Utf8) ? verified.Key : null;
    }

    public static void Remember(HttpContext context, ReadOnlySpan<byte> utf8, ResolvedKey key)
    {
        if (context.Features.Get<IConnectionItemsFeature>()?.Items is { } items)
            items[typeof(VerifiedKey)] = new VerifiedKey(utf8.ToArray(), key);
    }

    /// <summary>A key (its UTF-8 bytes) one connection presented and that passed the full check.</summary>
    private sealed record VerifiedKey(byte[] Utf8, ResolvedKey Key);
}
