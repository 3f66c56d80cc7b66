using System.Buffers;
using System.Text.Json;

namespace Hornbeam.PubSub;

/// <summary>The items a subscription gets besides messages: a gap in history, an overflow, a request to reconnect.</summary>
internal sealed class PubSubNotices(PubSubOptions options)
{
    public PubSubMessage Gap(string topic, long lastEventId, long resumesAfter, string reason) =>
        new(topic, resumesAfter, PubSubMessageKind.Gap, Json(w =>
        {
            w.WriteNumber("last_event_id"u8, lastEventId);
            w.WriteNumber("resumes_after"u8, resumesAfter);
            w.WriteString("reason"u8, reason);
        }));

    public PubSubMessage Overflow(string topic, long lastEventId) =>
        new(topic, lastEventId, PubSubMessageKind.Overflow, Json(w =>
        {
            w.WriteString("reason"u8,
                $"the subscriber fell more than {options.BufferCapacity} messages behind, so it was cut off; resubscribe with " +
                $"last_event_id {lastEventId} to resume from history");
            w.WriteNumber("buffer_capacity"u8, options.BufferCapacity);
            w.WriteNumber("last_event_id"u8, lastEventId);
        }));

    public PubSubMessage Reconnect(string topic, long lastEventId, string reason) =>
        new(topic, lastEventId, PubSubMessageKind.Reconnect, Json(w =>
        {
            w.WriteString("reason"u8, reason);
            w.WriteNumber("last_event_id"u8, lastEventId);
            w.WriteNumber("retry_ms"u8, (long)options.RetryInterval.TotalMilliseconds);
        }));

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
