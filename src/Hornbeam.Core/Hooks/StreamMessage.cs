using System.Text.Json;
using StackExchange.Redis;

namespace Hornbeam.Hooks;

/// <summary>
/// One message of a relayed stream: <c>{"seq", "kind": "chunk"|"done"|"error", "data"?, "type"?, "error"?, "message"?}</c>.
/// An error carries its kind as <c>type</c> (<see cref="HornbeamErrors.Type"/>, as every wire does) and, for callers not yet
/// upgraded, as <c>error</c> (the enum name older nodes wrote).
/// </summary>
internal sealed record StreamMessage(long Seq, string Kind, JsonElement Data, string? Type, string? Error, string? Message)
{
    public static byte[] Chunk(long seq, JsonElement data) => Write(seq, "chunk", w =>
    {
        w.WritePropertyName("data");
        data.WriteTo(w);
    });

    public static byte[] Done(long seq) => Write(seq, "done", _ => { });

    public static byte[] Fail(long seq, HornbeamError kind, string message) => Write(seq, "error", w =>
    {
        w.WriteString("type", HornbeamErrors.Type(kind));
        w.WriteString("error", kind.ToString());
        w.WriteString("message", message);
    });

    /// <summary>An error message's kind: its <c>type</c>, else (an older node) its enum name, else handler-failed.</summary>
    public HornbeamError ErrorKind =>
        HornbeamErrors.TryParse(Type, out var kind) ? kind
        : Enum.TryParse<HornbeamError>(Error, out var old) ? old
        : HornbeamError.HandlerFailed;

    private static byte[] Write(long seq, string kind, Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", seq);
            w.WriteString("kind", kind);
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static StreamMessage? Parse(RedisValue value)
    {
        try
        {
            using var doc = JsonDocument.Parse((byte[])value!);
            var root = doc.RootElement;
            return new StreamMessage(root.GetProperty("seq").GetInt64(), root.GetProperty("kind").GetString()!,
                root.TryGetProperty("data", out var data) ? data.Clone() : default,
                root.TryGetProperty("type", out var type) ? type.GetString() : null,
                root.TryGetProperty("error", out var error) ? error.GetString() : null,
                root.TryGetProperty("message", out var message) ? message.GetString() : null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}
