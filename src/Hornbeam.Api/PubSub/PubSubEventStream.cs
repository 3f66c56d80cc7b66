using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Reflection;
using System.Text.Json;
using Hornbeam.PubSub;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;

namespace Hornbeam.Api.PubSub;

/// <summary>
/// A subscription as a <c>text/event-stream</c>: first <c>event: subscribed</c> with <c>retry</c>, then each message with
/// <c>id</c> = its event id and <c>data</c> = its JSON, <c>event: gap</c> where history no longer reaches back,
/// <c>event: overflow</c> before a slow subscriber is cut off, and a <c>: ping</c> comment every keep-alive interval so proxies
/// keep the connection. The framing is the one <see cref="TypedResults.ServerSentEvents{T}(IAsyncEnumerable{SseItem{T}})"/>
/// writes, done here straight into the response's pipe: one message goes to every subscriber of a node, so each delivery is
/// one copy and one flush, with no per-event formatter pass, task or timer race.
/// </summary>
public sealed class PubSubEventStream(PubSubSubscription subscription, PubSubOptions options, CancellationToken expires = default)
    : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private static readonly byte[] Ping = ": ping\n\n"u8.ToArray();
    // The last event of a stream whose token expired: a browser's EventSource would reconnect with the same token and fail.
    private static readonly byte[] Expired =
        """{"detail":"The token expired; get a new one and subscribe again with last_event_id."}"""u8.ToArray();

    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext context)
    {
        await using (subscription)
        {
            var response = context.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache,no-store";
            response.Headers.Pragma = "no-cache";
            response.Headers.ContentEncoding = "identity";
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            var cancellation = context.RequestAborted;
            var output = response.BodyWriter;
            // Events and pings share the pipe: the gate keeps a ping from landing inside an event.
            using var gate = new SemaphoreSlim(1, 1);
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            var keepAlive = Task.CompletedTask;
            try
            {
                WriteEvent(output, "subscribed"u8, JsonSerializer.SerializeToUtf8Bytes(
                    new PubSubSubscribed(subscription.Topic, subscription.StartsAfter), PubSubJsonContext.Default.PubSubSubscribed),
                    id: null, retryMs: (long)options.RetryInterval.TotalMilliseconds);
                await output.FlushAsync(cancellation);
                keepAlive = KeepAliveAsync(output, gate, options.KeepAliveInterval, stopping.Token);

                using var ending = CancellationTokenSource.CreateLinkedTokenSource(cancellation, expires);
                await foreach (var message in subscription.WithCancellation(ending.Token))
                {
                    await gate.WaitAsync(cancellation);
                    FlushResult flushed;
                    try
                    {
                        Write(output, message);
                        flushed = await output.FlushAsync(cancellation);
                    }
                    finally
                    {
                        gate.Release();
                    }
                    if (flushed.IsCompleted) break; // the connection is gone
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                // The client went away.
            }
            catch (OperationCanceledException) when (expires.IsCancellationRequested)
            {
                await gate.WaitAsync(cancellation);
                WriteEvent(output, "expired"u8, Expired, id: null);
                await output.FlushAsync(cancellation);
                gate.Release();
            }
            finally
            {
                await stopping.CancelAsync();
                await keepAlive;
            }
        }
    }

    private static async Task KeepAliveAsync(PipeWriter output, SemaphoreSlim gate, TimeSpan interval, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                await gate.WaitAsync(stopping);
                try
                {
                    output.Write(Ping);
                    await output.FlushAsync(stopping);
                }
                finally
                {
                    gate.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The stream ended.
        }
    }

    private static void Write(PipeWriter output, PubSubMessage message)
    {
        switch (message.Kind)
        {
            case PubSubMessageKind.Message: WriteEvent(output, default, message.Json, message.Id); break;
            case PubSubMessageKind.Gap: WriteEvent(output, "gap"u8, message.Json, message.Id); break;
            case PubSubMessageKind.Reconnect: WriteEvent(output, "reconnect"u8, message.Json, id: null); break;
            default: WriteEvent(output, "overflow"u8, message.Json, id: null); break;
        }
    }

    /// <summary>
    /// One event as SseFormatter lays it out: <c>event</c> (unless the default), <c>data</c> per line (CR LF and CR normalised to LF),
    /// <c>id</c>, <c>retry</c>, then a blank line. Written into one span: on a chunked response each GetSpan costs more than the copy.
    /// </summary>
    internal static void WriteEvent(IBufferWriter<byte> output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data, long? id,
        long? retryMs = null)
    {
        var lines = 1 + data.Count((byte)'\n') + data.Count((byte)'\r'); // at least as many as there are
        var span = output.GetSpan("event: \n"u8.Length + type.Length + lines * "data: \n"u8.Length + data.Length + 2 * MaxField + 1);
        var n = 0;
        if (!type.IsEmpty)
        {
            n += Put(span, "event: "u8);
            n += Put(span[n..], type);
            span[n++] = (byte)'\n';
        }
        // Stored JSON is compact, so it is one line; anything else is split the way the SSE format needs.
        while (true)
        {
            n += Put(span[n..], "data: "u8);
            var end = data.IndexOfAny((byte)'\r', (byte)'\n');
            n += Put(span[n..], end < 0 ? data : data[..end]);
            span[n++] = (byte)'\n';
            if (end < 0) break;
            data = data[(data[end] == '\r' && end + 1 < data.Length && data[end + 1] == '\n' ? end + 2 : end + 1)..];
        }
        if (id is { } eventId) n += PutField(span[n..], "id: "u8, eventId);
        if (retryMs is { } retry) n += PutField(span[n..], "retry: "u8, retry);
        span[n++] = (byte)'\n';
        output.Advance(n);
    }

    private const int MaxField = 7 + 20 + 1; // "retry: ", a long, "\n"

    private static int Put(Span<byte> span, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span);
        return bytes.Length;
    }

    private static int PutField(Span<byte> span, ReadOnlySpan<byte> name, long value)
    {
        var n = Put(span, name);
        Utf8Formatter.TryFormat(value, span[n..], out var written);
        span[n + written] = (byte)'\n';
        return n + written + 1;
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(SseItem<JsonElement>),
            ["text/event-stream"]));
}
