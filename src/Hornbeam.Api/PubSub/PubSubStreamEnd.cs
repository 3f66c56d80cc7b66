using System.Net.WebSockets;
using System.Text.Json;
using Hornbeam.PubSub;
using Hornbeam.Redis;

namespace Hornbeam.Api.PubSub;

/// <summary>
/// How a subscription stream ends, whatever ends it: its last event (<see cref="Event"/> and its JSON <see cref="Data"/>; none
/// when the client closed or the connection broke) and, on a WebSocket, the close code and reason sent after it. The SSE and
/// WebSocket streams each end in one place, from one of these.
/// </summary>
internal sealed record PubSubStreamEnd(string? Event, byte[]? Data, WebSocketCloseStatus Status, string Reason)
{
    /// <summary>1013 "Try Again Later" (IANA's WebSocket close code registry): not in <see cref="WebSocketCloseStatus"/>.</summary>
    public const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    /// <summary>The end a subscription's last item asks for: <c>overflow</c> then 1013, <c>reconnect</c> then 1001.</summary>
    public static PubSubStreamEnd From(PubSubMessage last) => last.Kind == PubSubMessageKind.Overflow
        ? new("overflow", last.Json, TryAgainLater, "subscriber fell behind; reconnect with last_event_id")
        : new("reconnect", last.Json, WebSocketCloseStatus.EndpointUnavailable, "reconnect with last_event_id");

    /// <summary>
    /// A <c>reconnect</c> end for a subscription the service cannot serve right now (Redis unavailable, node shutting down or at
    /// capacity): the client tries again after <paramref name="retry"/>, with the last event id it has, if any.
    /// </summary>
    public static PubSubStreamEnd Reconnect(string reason, long? lastEventId, TimeSpan retry)
    {
        var data = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(data))
        {
            writer.WriteStartObject();
            writer.WriteString("reason"u8, reason);
            if (lastEventId is { } id) writer.WriteNumber("last_event_id"u8, id);
            writer.WriteNumber("retry_ms"u8, (long)retry.TotalMilliseconds);
            writer.WriteEndObject();
        }
        return new("reconnect", data.WrittenSpan.ToArray(), WebSocketCloseStatus.EndpointUnavailable, "reconnect with last_event_id");
    }

    /// <summary>
    /// Why a subscription failed, when the failure is temporary (Redis unavailable, node shutting down or at capacity), so the
    /// client should be told to reconnect rather than get an error; null for anything else (a bad topic stays a 400).
    /// </summary>
    public static string? Temporary(Exception e) => e switch
    {
        HornbeamException { Error: HornbeamError.Unavailable or HornbeamError.Overloaded } h => h.Message,
        // Classify's message speaks of a change not made; a subscription changes nothing.
        _ => RedisFailures.Classify(e, changesData: false) is { Error: HornbeamError.Unavailable }
            ? "this node cannot reach Redis right now; reconnect with your last event id (any node): it resumes once Redis answers"
            : null,
    };

    /// <summary>
    /// The token that opened the stream expired: <c>expired</c>, then 1008 (policy violation) on a WebSocket. The client gets
    /// a new token and subscribes again with its last event id; an EventSource left to reconnect would reuse the expired one.
    /// </summary>
    public static readonly PubSubStreamEnd Expired = new("expired",
        """{"detail":"The token expired; get a new one and subscribe again with last_event_id."}"""u8.ToArray(),
        WebSocketCloseStatus.PolicyViolation, "token expired; get a new token and reconnect with last_event_id");

    /// <summary>The client closed: its close is answered with the same code, and no last event.</summary>
    public static PubSubStreamEnd ClientClosed(WebSocketCloseStatus? status) =>
        new(null, null, status ?? WebSocketCloseStatus.NormalClosure, "");

    /// <summary>The connection broke before a close: nothing more can be sent.</summary>
    public static readonly PubSubStreamEnd Broken = new(null, null, WebSocketCloseStatus.Empty, "");
}
