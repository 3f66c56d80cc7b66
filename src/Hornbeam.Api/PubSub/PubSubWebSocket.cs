using System.Buffers;
using System.Net.WebSockets;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hornbeam.PubSub;
using StackExchange.Redis;

namespace Hornbeam.Api.PubSub;

/// <summary>
/// One WebSocket on a topic. Every frame is a JSON text frame with an <c>event</c>: <c>subscribed</c>, <c>message</c> (<c>id</c>,
/// <c>data</c>), <c>gap</c>, <c>overflow</c>, and, for text frames the client sends, <c>published</c> (<c>id</c>, <c>subscribers</c>) or
/// <c>error</c> (<c>detail</c>). A bad frame gets an error frame and the connection stays open.
/// </summary>
internal sealed class PubSubWebSocket(WebSocket socket, PubSubSubscription subscription, IPubSub pubsub, int maxMessageBytes,
    ILogger logger)
{
    // 1013 "Try Again Later": the subscriber fell behind and may reconnect with last_event_id.
    private const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true
    };
    private readonly SemaphoreSlim _send = new(1, 1);

    public async Task RunAsync(CancellationToken aborted, CancellationToken expires = default)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        await SendAsync(w =>
        {
            w.WriteString("event"u8, "subscribed");
            w.WriteString("topic"u8, subscription.Topic);
            w.WriteNumber("last_event_id"u8, subscription.StartsAfter);
        }, done.Token);

        var pump = PumpAsync(done.Token);
        var receive = ReceiveAsync(done.Token);
        var expired = ExpiredAsync(expires, done.Token);
        var first = await Task.WhenAny(pump, receive, expired);
        var closing = await first;
        if (first == expired && closing is { } policy)
        {
            // Closed before the receive is cancelled, which would abort the socket: the client reads 1008 and the reason.
            await CloseAsync(policy);
            await Task.WhenAny(receive, Task.Delay(TimeSpan.FromSeconds(2), aborted));
            closing = null;
        }
        done.Cancel();
        try
        {
            await Task.WhenAll(pump, receive, expired);
        }
        catch (OperationCanceledException)
        {
            // The other half stopped because this one finished.
        }
        if (closing is { } close && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await socket.CloseOutputAsync(close.Status, close.Reason, timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // The client is gone already.
            }
        }
    }

    /// <summary>Answers 1008 (policy violation) when the token that opened the socket expires; null when the socket ends first.</summary>
    private static async Task<(WebSocketCloseStatus Status, string Reason)?> ExpiredAsync(CancellationToken expires, CancellationToken done)
    {
        // Without a token that expires this waits for the socket to end, so it never ends the socket itself.
        using var either = expires.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(expires, done) : null;
        await Task.Delay(Timeout.Infinite, either?.Token ?? done).ContinueWith(_ => { }, TaskScheduler.Default);
        return expires.IsCancellationRequested
            ? (WebSocketCloseStatus.PolicyViolation, "token expired; get a new token and reconnect with last_event_id")
            : null;
    }

    private async Task CloseAsync((WebSocketCloseStatus Status, string Reason) close)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _send.WaitAsync(timeout.Token);
            try
            {
                await socket.CloseOutputAsync(close.Status, close.Reason, timeout.Token);
            }
            finally
            {
                _send.Release();
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The client is gone already.
        }
    }

    /// <summary>Subscription to frames; answers how to close when the subscription ends first.</summary>
    private async Task<(WebSocketCloseStatus Status, string Reason)?> PumpAsync(CancellationToken cancellation)
    {
        await foreach (var message in subscription.WithCancellation(cancellation))
        {
            await SendAsync(w =>
            {
                w.WriteString("event"u8, message.Kind switch
                {
                    PubSubMessageKind.Message => "message",
                    PubSubMessageKind.Gap => "gap",
                    PubSubMessageKind.Reconnect => "reconnect",
                    _ => "overflow",
                });
                if (message.Kind is PubSubMessageKind.Message or PubSubMessageKind.Gap) w.WriteNumber("id"u8, message.Id);
                w.WritePropertyName("data"u8);
                w.WriteRawValue(message.Json, skipInputValidation: true);
            }, cancellation);
            if (message.Kind == PubSubMessageKind.Overflow) return (TryAgainLater, "subscriber fell behind; reconnect with last_event_id");
        }
        return (WebSocketCloseStatus.EndpointUnavailable, "node shutting down; reconnect with last_event_id");
    }

    /// <summary>Client frames to publishes; answers how to close when the client closes first.</summary>
    private async Task<(WebSocketCloseStatus Status, string Reason)?> ReceiveAsync(CancellationToken cancellation)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            buffer.ResetWrittenCount();
            ValueWebSocketReceiveResult frame;
            var tooLarge = false;
            do
            {
                frame = await socket.ReceiveAsync(buffer.GetMemory(4096), cancellation);
                if (frame.MessageType == WebSocketMessageType.Close)
                    return (WebSocketCloseStatus.NormalClosure, "");
                if (buffer.WrittenCount + frame.Count > maxMessageBytes) tooLarge = true;
                if (!tooLarge) buffer.Advance(frame.Count);
            } while (!frame.EndOfMessage);

            if (frame.MessageType == WebSocketMessageType.Binary)
                await ErrorAsync("Binary frames are not accepted; send the message as a JSON text frame.", cancellation);
            else if (tooLarge)
                await ErrorAsync($"The frame is larger than {maxMessageBytes} bytes; at most {maxMessageBytes} bytes are allowed.",
                    cancellation);
            else
                await PublishAsync(buffer.WrittenMemory.ToArray(), cancellation);
        }
    }

    private async Task PublishAsync(byte[] json, CancellationToken cancellation)
    {
        try
        {
            var published = await pubsub.PublishJsonAsync(subscription.Topic, json);
            await SendAsync(w =>
            {
                w.WriteString("event"u8, "published");
                w.WriteNumber("id"u8, published.Id);
                w.WriteNumber("subscribers"u8, published.Subscribers);
            }, cancellation);
        }
        catch (HornbeamException e)
        {
            await ErrorAsync(e.Message, cancellation);
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException)
        {
            logger.LogWarning("Publishing a WebSocket frame to {Topic} failed: {Message}", subscription.Topic, e.Message);
            await ErrorAsync("Redis did not answer, so the message was not published; retry shortly.", cancellation);
        }
    }

    private Task ErrorAsync(string detail, CancellationToken cancellation) => SendAsync(w =>
    {
        w.WriteString("event"u8, "error");
        w.WriteString("detail"u8, detail);
    }, cancellation);

    private async Task SendAsync(Action<Utf8JsonWriter> write, CancellationToken cancellation)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        // A WebSocket allows one send at a time; the pump and the publish answers share it.
        await _send.WaitAsync(cancellation);
        try
        {
            await socket.SendAsync(buffer.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, cancellation);
        }
        finally
        {
            _send.Release();
        }
    }
}
