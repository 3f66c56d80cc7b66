using System.Security.Cryptography;

namespace Hornbeam.State;

/// <summary>
/// A state value's ETag is the SHA-1 of its stored bytes, quoted, as the state scripts compute it with
/// <c>redis.sha1hex</c>: the same on every replica and for every write that stores those bytes. A value set back to an
/// earlier one gets that one's ETag again; as a strong validator of the representation that is right, and a
/// read-modify-write conditioned on it still starts from the value it read.
/// </summary>
internal static class StateETags
{
    private const int HexLength = 40;

    public static string Of(ReadOnlySpan<byte> json)
    {
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        SHA1.HashData(json, hash);
        return Quote(Convert.ToHexStringLower(hash));
    }

    public static string Quote(string hex) => $"\"{hex}\"";

    /// <summary>
    /// An <c>If-Match</c> or <c>If-None-Match</c> value as the scripts take it: <c>*</c>, or the ETags that can match as
    /// <c>,hex,hex,</c>. <c>If-Match</c> compares strongly, so a weak ETag (<c>W/"…"</c>) in it never matches;
    /// <c>If-None-Match</c> compares weakly. An ETag this service did not issue is valid and matches nothing.
    /// </summary>
    public static string Parse(string header, string name, bool weakMatches)
    {
        var text = header.AsSpan().Trim();
        if (text is "*") return "*";
        var tags = new System.Text.StringBuilder(",");
        var i = 0;
        var any = false;
        while (i < text.Length)
        {
            if (text[i] is ' ' or '\t' or ',')
            {
                i++;
                continue;
            }
            var weak = text[i..].StartsWith("W/", StringComparison.Ordinal);
            if (weak) i += 2;
            var end = i < text.Length && text[i] == '"' ? text[(i + 1)..].IndexOf('"') : -1;
            if (end < 0)
                throw new HornbeamException(HornbeamError.InvalidInput,
                    $"{name} must be * or quoted ETags as GET /state/{{key}} answers them in its ETag header; it was '{header}'.");
            var tag = text.Slice(i + 1, end);
            if ((weakMatches || !weak) && tag.Length == HexLength && !tag.ContainsAnyExcept("0123456789abcdef"))
                tags.Append(tag).Append(',');
            i += end + 2;
            any = true;
        }
        if (!any)
            throw new HornbeamException(HornbeamError.InvalidInput, $"{name} is empty; give * or a quoted ETag from GET /state/{{key}}.");
        return tags.ToString();
    }
}
