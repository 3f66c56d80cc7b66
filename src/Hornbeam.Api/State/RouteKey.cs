using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace Hornbeam.Api.State;

/// <summary>
/// Keys and topics come from a catch-all route segment, so they may hold '/' and ':'. They are read from the request
/// target as the client sent it and percent-decoded exactly once: the server's own decoding leaves %2F encoded, so
/// finishing it afterwards would decode <c>%252F</c> twice and make two keys one.
/// </summary>
internal static class RouteKey
{
    /// <summary>The catch-all value of the matched route, decoded once; 400 for an escape that is not UTF-8 or a dot segment.</summary>
    public static string Decode(HttpContext context, string routed)
    {
        var raw = RawPath(context);
        // No escape and no dot: the server's decoding changed nothing, so the routed value is the key.
        if (raw.IndexOfAny('%', '.') < 0) return routed;
        return Unescape(CatchAll(context, raw), "The key");
    }

    /// <summary>The same, as the path segments of a catch-all (the WebSocket route names a topic by them), each decoded once.</summary>
    public static IEnumerable<string> DecodeSegments(HttpContext context, string routed)
    {
        var raw = RawPath(context);
        if (raw.IndexOfAny('%', '.') < 0) return routed.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return CatchAll(context, raw).ToString().Split('/', StringSplitOptions.RemoveEmptyEntries).Select(s => Unescape(s, "The topic"));
    }

    private static ReadOnlySpan<char> RawPath(HttpContext context)
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(target) || target[0] != '/') return (context.Request.PathBase + context.Request.Path).ToString();
        var query = target.IndexOf('?');
        return query < 0 ? target : target.AsSpan(0, query);
    }

    /// <summary>What follows the route's literal segments (<c>/state/</c>, <c>/state/incr/</c>, …) in the raw path.</summary>
    private static ReadOnlySpan<char> CatchAll(HttpContext context, ReadOnlySpan<char> raw)
    {
        if (HasDotSegment(raw))
            throw new HornbeamException(HornbeamError.InvalidInput,
                "The path has a '.' or '..' segment (or %2E for one); HTTP clients and servers remove those, so such a key or topic " +
                "could not be addressed reliably. Choose one without a segment that is only dots.");
        var literals = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.PathSegments.Count - 1 ?? 1;
        var rest = raw.TrimStart('/');
        for (var i = 0; i < literals; i++)
        {
            var slash = rest.IndexOf('/');
            rest = slash < 0 ? [] : rest[(slash + 1)..];
        }
        return rest;
    }

    // HTTP clients and servers remove '.' and '..' segments (RFC 3986 §5.2.4); some decode %2E first, so encoded ones count too.
    private static bool HasDotSegment(ReadOnlySpan<char> path)
    {
        foreach (var range in path.Split('/'))
        {
            var segment = path[range];
            if (segment is "." or ".." || segment.Equals("%2E", StringComparison.OrdinalIgnoreCase)
                || IsEncodedDotDot(segment)) return true;
        }
        return false;
    }

    private static bool IsEncodedDotDot(ReadOnlySpan<char> segment) =>
        segment.Length is 4 or 6 && segment.ToString().Replace("%2E", ".", StringComparison.OrdinalIgnoreCase) == "..";

    private static string Unescape(ReadOnlySpan<char> raw, string subject)
    {
        if (raw.IndexOf('%') < 0) return raw.ToString();
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(raw.Length));
        try
        {
            var length = 0;
            var rest = raw;
            while (!rest.IsEmpty)
            {
                var escape = rest.IndexOf('%');
                var run = escape < 0 ? rest : rest[..escape];
                length += Encoding.UTF8.GetBytes(run, bytes.AsSpan(length));
                if (escape < 0) break;
                if (escape + 2 >= rest.Length || !char.IsAsciiHexDigit(rest[escape + 1]) || !char.IsAsciiHexDigit(rest[escape + 2]))
                    throw new HornbeamException(HornbeamError.InvalidInput,
                        $"{subject} has a '%' that is not followed by two hex digits; write a literal '%' as %25.");
                bytes[length++] = (byte)((HexValue(rest[escape + 1]) << 4) | HexValue(rest[escape + 2]));
                rest = rest[(escape + 3)..];
            }
            var decoded = bytes.AsSpan(0, length);
            if (!System.Text.Unicode.Utf8.IsValid(decoded))
                throw new HornbeamException(HornbeamError.InvalidInput,
                    $"{subject} has percent-escapes that are not UTF-8 (such as %FF); keys and topics are Unicode text, escaped as UTF-8.");
            return Encoding.UTF8.GetString(decoded);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
