using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using StackExchange.Redis;

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
    /// <summary>Optional: the caller's W3C trace context, so the handler's span joins the caller's trace.</summary>
    public const string TraceParent = "traceparent";

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

    /// <summary>
    /// A failed reply: <c>type</c> is the kind's problem type (<see cref="HornbeamErrors.Type"/>), the one encoding every
    /// wire uses; <c>error</c> keeps the older code so callers not yet upgraded still understand it.
    /// </summary>
    public static byte[] Error(string id, HornbeamError kind, string message) => Write(w =>
    {
        w.WriteString("id"u8, id);
        w.WriteBoolean("ok"u8, false);
        w.WriteString("type"u8, HornbeamErrors.Type(kind));
        w.WriteString("error"u8, LegacyCode(kind));
        w.WriteString("message"u8, message);
    });

    /// <summary>The reply's kind: its <c>type</c>, or for a reply from an older node its <c>error</c> code.</summary>
    public static HornbeamError KindOf(RpcReply reply) =>
        HornbeamErrors.TryParse(reply.Type, out var kind) ? kind : reply.Error switch
        {
            "not_found" => HornbeamError.NotFound,
            "invalid_input" => HornbeamError.InvalidInput,
            "timeout" => HornbeamError.Timeout,
            "forbidden" => HornbeamError.Forbidden,
            "too_large" => HornbeamError.TooLarge,
            _ => HornbeamError.HandlerFailed,
        };

    // The codes older nodes understand; any other kind was "failed" to them.
    private static string LegacyCode(HornbeamError error) => error switch
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
internal sealed record RpcReply(bool Ok, JsonElement Result, string? Type, string? Error, string? Message)
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
                ? (id, new RpcReply(true, root.TryGetProperty("result", out var r) ? r.Clone() : default, null, null, null))
                : (id, new RpcReply(false, default, root.TryGetProperty("type", out var t) ? t.GetString() : null,
                    root.TryGetProperty("error", out var err) ? err.GetString() : null,
                    root.TryGetProperty("message", out var m) ? m.GetString() : null));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>One entry of a request stream, as <c>docs/protocol.md</c> lists its fields.</summary>
internal sealed record RpcRequest(string? Id, string Kind, string? From, string? ReplyTo, string Module, string Function, byte[] Args,
    long Deadline, string? TraceParent = null)
{
    /// <summary>The entry's request; null when a field it needs is missing.</summary>
    public static RpcRequest? Parse(StreamEntry entry)
    {
        string? id = null, kind = null, from = null, replyTo = null, module = null, function = null, traceParent = null;
        byte[]? args = null;
        long deadline = 0;
        foreach (var field in entry.Values)
        {
            switch ((string?)field.Name)
            {
                case RpcWire.Id: id = field.Value; break;
                case RpcWire.Kind: kind = field.Value; break;
                case RpcWire.From: from = field.Value; break;
                case RpcWire.ReplyTo: replyTo = field.Value; break;
                case RpcWire.Module: module = field.Value; break;
                case RpcWire.Function: function = field.Value; break;
                case RpcWire.Args: args = field.Value; break;
                case RpcWire.Deadline: _ = long.TryParse(field.Value.ToString(), out deadline); break;
                case RpcWire.TraceParent: traceParent = field.Value; break;
            }
        }
        if (kind is not (RpcWire.Call or RpcWire.Cast) || module is null || function is null
            || (kind == RpcWire.Call && (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(replyTo) || deadline == 0)))
            return null;
        return new RpcRequest(id, kind, from, kind == RpcWire.Call ? replyTo : null, module, function, args ?? "[]"u8.ToArray(), deadline,
            traceParent);
    }
}
