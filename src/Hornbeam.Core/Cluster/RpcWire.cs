using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Hornbeam.Cluster;

/// <summary>The RPC wire format, as <c>docs/protocol.md</c> describes it: request-stream fields and reply messages.</summary>
internal static class RpcWire
{
    public const string ConsumerGroup = "hornbeam";
    public const string Call = "call";
    public const string Cast = "cast";

    public const string Id = "id";
    public const string Kind = "kind";
    public const string From = "from";
    public const string ReplyTo = "reply_to";
    public const string Module = "module";
    public const string Function = "function";
    public const string Args = "args";
    public const string Deadline = "deadline";

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] EncodeArgs(IReadOnlyList<JsonElement> args)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var w = new Utf8JsonWriter(buffer, Compact))
        {
            w.WriteStartArray();
            foreach (var a in args) a.WriteTo(w);
            w.WriteEndArray();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static IReadOnlyList<JsonElement> DecodeArgs(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new HornbeamException(HornbeamError.InvalidInput, "args must be a JSON array.");
            return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
        }
        catch (JsonException e)
        {
            throw new HornbeamException(HornbeamError.InvalidInput, $"args is not valid JSON: {e.Message}", e);
        }
    }

    public static byte[] Ok(string id, JsonElement result) => Write(w =>
    {
        w.WriteString("id"u8, id);
        w.WriteBoolean("ok"u8, true);
        w.WritePropertyName("result"u8);
        result.WriteTo(w);
    });

    public static byte[] Error(string id, string error, string message) => Write(w =>
    {
        w.WriteString("id"u8, id);
        w.WriteBoolean("ok"u8, false);
        w.WriteString("error"u8, error);
        w.WriteString("message"u8, message);
    });

    /// <summary>The reply's error code for a failure; the caller maps it back to a status.</summary>
    public static string ErrorCode(HornbeamError error) => error switch
    {
        HornbeamError.NotFound => "not_found",
        HornbeamError.InvalidInput => "invalid_input",
        HornbeamError.Timeout => "timeout",
        HornbeamError.Forbidden => "forbidden",
        HornbeamError.TooLarge => "too_large",
        _ => "failed",
    };

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer, Compact))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>A reply as the caller received it.</summary>
internal sealed record RpcReply(bool Ok, JsonElement Result, string? Error, string? Message)
{
    public static (string Id, RpcReply Reply)? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var root = doc.RootElement;
            var id = root.GetProperty("id").GetString()!;
            var ok = root.GetProperty("ok").GetBoolean();
            return ok
                ? (id, new RpcReply(true, root.TryGetProperty("result", out var r) ? r.Clone() : default, null, null))
                : (id, new RpcReply(false, default, root.GetProperty("error").GetString(), root.TryGetProperty("message", out var m) ? m.GetString() : null));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}
