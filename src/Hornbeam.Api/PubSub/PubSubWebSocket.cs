using System.Buffers;
using System.Net.WebSockets;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hornbeam.PubSub;
using StackExchange.Redis;

namespace Hornbeam.Api.PubSub;

/// <summary>
/// One WebSocket on a topic. Every frame is a JSON text frame with an <c>event</c>: <c>subscribed</c>, <c>message</c> (<c>id</c>,
/// <c>data</c>), <c>gap</c>, and, for text frames the client sends, <c>published</c> (<c>id</c>, <c>subscribers</c>) or
/// <c>error</c> (<c>detail</c>). A bad frame gets an error frame and the connection stays open.
/// <para>
/// It ends in one place (<see cref="End"/>), whatever ends it: the last frame (<c>overflow</c>, <c>reconnect</c>), then a close
/// frame whose code says what to do, then the client's close frame is awaited, so the close handshake completes before the
/// connection goes; a client's own close is answered with a close frame. Messages are sent whole: no send is cancelled, and
/// the one receive loop is never cancelled either (cancelling a pending receive aborts the socket); it ends with the handshake.
/// </para>
/// </summary>
internal sealed class PubSubWebSocket(WebSocket socket, PubSubSubscription? subscription, IPubSub pubsub, int maxMessageBytes,
    TimeSpan retry, ILogger logger)
{
    /// <summary>
    /// How long closing may take: a send in progress finishing, the last frames, the client's close frame. A slow reader drains
    /// what the socket buffers hold before it sees the close frame, so this is generous; a shutdown bounds it anyway.
    /// </summary>
    public static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true
    };
    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly CancellationTokenSource _ending = new();
    private readonly TaskCompletionSource<PubSubStreamEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _closeSent; // under _send

    /// <summary>
    /// Ends the connection with <paramref name="end"/> (the first end asked for wins): delivery stops after the message being
    /// sent, then the end's frame and close frame go out.
    /// </summary>
    public void End(PubSubStreamEnd end)
    {
        if (_ended.TrySetResult(end)) _ending.Cancel();
    }

    /// <summary>Runs until the connection has closed; without a subscription it only closes, with the end given beforehand.</summary>
    public async Task RunAsync()
    {
        var receiving = ReceiveAsync();
        var pumping = subscription is null ? Task.CompletedTask : PumpAsync(subscription);
        await CloseAsync(await _ended.Task, receiving);
        await Task.WhenAll(pumping, receiving);
    }

    /// <summary>The subscription to frames, until its last item or until the connection ends.</summary>
    private async Task PumpAsync(PubSubSubscription subscription)
    {
        var last = subscription.StartsAfter;
        try
        {
            await SendAsync(w =>
            {
                w.WriteString("event"u8, "subscribed");
                w.WriteString("topic"u8, subscription.Topic);
                w.WriteNumber("last_event_id"u8, subscription.StartsAfter);
            });
            await foreach (var message in subscription.WithCancellation(_ending.Token))
            {
                if (message.Kind is PubSubMessageKind.Overflow or PubSubMessageKind.Reconnect)
                {
                    End(PubSubStreamEnd.From(message));
                    return;
                }
                await SendAsync(w =>
                {
                    w.WriteString("event"u8, message.Kind == PubSubMessageKind.Gap ? "gap" : "message");
                    w.WriteNumber("id"u8, message.Id);
                    w.WritePropertyName("data"u8);
                    w.WriteRawValue(message.Json, skipInputValidation: true);
                });
                last = message.Id;
            }
            End(PubSubStreamEnd.Reconnect("this node ended the subscription; reconnect with your last event id", last, retry));
        }
        catch (OperationCanceledException) when (_ending.IsCancellationRequested)
        {
            // Ended by the client or by End.
        }
        catch (Exception e) when (PubSubStreamEnd.Temporary(e) is { } reason)
        {
            // Catching up from history needs Redis.
            End(PubSubStreamEnd.Reconnect(reason, last, retry));
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException)
        {
            End(PubSubStreamEnd.Broken);
        }
    }

    /// <summary>Client frames to publishes, until the client's close frame (or the connection breaks).</summary>
    private async Task ReceiveAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (true)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult frame;
                var tooLarge = false;
                do
                {
                    frame = await socket.ReceiveAsync(buffer.GetMemory(4096), CancellationToken.None);
                    if (frame.MessageType == WebSocketMessageType.Close)
                    {
                        End(PubSubStreamEnd.ClientClosed(socket.CloseStatus));
                        return;
                    }
                    if (buffer.WrittenCount + frame.Count > maxMessageBytes) tooLarge = true;
                    if (!tooLarge) buffer.Advance(frame.Count);
                } while (!frame.EndOfMessage);

                // Once closing, a frame is neither published nor answered: the answer could not be sent.
                if (_ended.Task.IsCompleted) continue;
                if (frame.MessageType == WebSocketMessageType.Binary)
                    await ErrorAsync("Binary frames are not accepted; send the message as a JSON text frame.");
                else if (tooLarge)
                    await ErrorAsync($"The frame is larger than {maxMessageBytes} bytes; at most {maxMessageBytes} bytes are allowed.");
                else
                    await PublishAsync(buffer.WrittenMemory.ToArray());
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            End(PubSubStreamEnd.Broken);
        }
    }

    /// <summary>
    /// The one place the connection ends: the end's frame and a close frame after any send in progress, then the client's close
    /// frame awaited; a client that does not complete the handshake within <see cref="CloseTimeout"/> is dropped.
    /// </summary>
    private async Task CloseAsync(PubSubStreamEnd end, Task receiving)
    {
        if (end == PubSubStreamEnd.Broken)
        {
            socket.Abort();
            return;
        }
        using var deadline = new CancellationTokenSource(CloseTimeout);
        try
        {
            await _send.WaitAsync(deadline.Token);
            try
            {
                if (end is { Event: { } name, Data: { } data } && socket.State == WebSocketState.Open)
                    await socket.SendAsync(Frame(w =>
                    {
                        w.WriteString("event"u8, name);
                        w.WritePropertyName("data"u8);
                        w.WriteRawValue(data, skipInputValidation: true);
                    }), WebSocketMessageType.Text, endOfMessage: true, deadline.Token);
                _closeSent = true;
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    await socket.CloseOutputAsync(end.Status, end.Reason, deadline.Token);
            }
            finally
            {
                _send.Release();
            }
            await receiving.WaitAsync(deadline.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException or IOException)
        {
            logger.LogDebug("A WebSocket on {Topic} did not complete its close handshake: {Message}", subscription?.Topic, e.Message);
            socket.Abort();
        }
    }

    private async Task PublishAsync(byte[] json)
    {
        if (subscription is null) return;
        try
        {
            var published = await pubsub.PublishJsonAsync(subscription.Topic, json);
            await SendAsync(w =>
            {
                w.WriteString("event"u8, "published");
                w.WriteNumber("id"u8, published.Id);
                w.WriteNumber("subscribers"u8, published.Subscribers);
            });
        }
        catch (HornbeamException e)
        {
            await ErrorAsync(e.Message);
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException)
        {
            logger.LogWarning("Publishing a WebSocket frame to {Topic} failed: {Message}", subscription.Topic, e.Message);
            await ErrorAsync("Redis did not answer, so the message was not published; retry shortly.");
        }
    }

    private Task ErrorAsync(string detail) => SendAsync(w =>
    {
        w.WriteString("event"u8, "error");
        w.WriteString("detail"u8, detail);
    });

    /// <summary>One whole message, never cancelled; nothing once the close frame is out.</summary>
    private async Task SendAsync(Action<Utf8JsonWriter> write)
    {
        var frame = Frame(write);
        // A WebSocket allows one send at a time; the pump, the publish answers and the close share it.
        await _send.WaitAsync();
        try
        {
            if (_closeSent || socket.State != WebSocketState.Open) return;
            await socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _send.Release();
        }
    }

    private static ReadOnlyMemory<byte> Frame(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenMemory;
    }
}
