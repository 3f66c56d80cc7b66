using System.Net.WebSockets;
using System.Text.Json;

namespace Hornbeam.Api.Access;

/// <summary>
/// Refuses a WebSocket after its upgrade instead of before: a browser's WebSocket cannot read the status of a refused
/// handshake (it sees 1006 and nothing else), so a missing or wrong credential (401), a scope or topic it may not use
/// (403) and a limit (429) are told as an <c>error</c> frame carrying the ProblemDetails, then a close frame: 1008
/// (policy violation) for 401 and 403, 1013 (try again later) for 429. A request that is not an upgrade keeps the HTTP
/// answer.
/// </summary>
internal static class WebSocketRefusal
{
    // Long enough for a browser to answer the close frame; a client that does not is dropped.
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    public static bool Applies(HttpContext context) => context.WebSockets.IsWebSocketRequest && !context.Response.HasStarted;

    public static async Task RefuseAsync(HttpContext context, int status, string type, string title, string detail)
    {
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var frame = new MemoryStream();
        await using (var w = new Utf8JsonWriter(frame))
        {
            w.WriteStartObject();
            w.WriteString("event"u8, "error");
            w.WriteNumber("status"u8, status);
            w.WriteString("type"u8, type);
            w.WriteString("title"u8, title);
            w.WriteString("detail"u8, detail);
            if (context.Response.Headers.RetryAfter is [{ } seconds] && int.TryParse(seconds, out var retry))
                w.WriteNumber("retry_ms"u8, retry * 1000L);
            w.WriteEndObject();
        }
        using var deadline = new CancellationTokenSource(CloseTimeout);
        try
        {
            await socket.SendAsync(frame.GetBuffer().AsMemory(0, (int)frame.Length), WebSocketMessageType.Text, true, deadline.Token);
            await socket.CloseOutputAsync(status == StatusCodes.Status429TooManyRequests ? PubSub.PubSubStreamEnd.TryAgainLater
                : WebSocketCloseStatus.PolicyViolation, title.ToLowerInvariant(), deadline.Token);
            // Read until the client's close frame, so the handshake completes and the browser's onclose says wasClean.
            var buffer = new byte[256];
            while (socket.State == WebSocketState.CloseSent)
                if ((await socket.ReceiveAsync(buffer, deadline.Token)).MessageType == WebSocketMessageType.Close) break;
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // The client went away or did not answer the close in time: nothing more is owed to it.
        }
    }
}
