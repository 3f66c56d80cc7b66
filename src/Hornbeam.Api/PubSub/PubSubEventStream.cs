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
public sealed class PubSubEventStream(PubSubSubscription subscription, PubSubOptions options) : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private static readonly byte[] Ping = ": ping\n\n"u8.ToArray();

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

                await foreach (var message in subscription.WithCancellation(cancellation))
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

    /// <summary>One event as SseFormatter lays it out: <c>event</c> (unless the default), <c>data</c> per line, <c>id</c>, <c>retry</c>.</summary>
    internal static void WriteEvent(IBufferWriter<byte> output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data, long? id, long? retryMs = null)
    {
        if (!type.IsEmpty)
        {
            output.Write("event: "u8);
            output.Write(type);
            output.Write("\n"u8);
        }
        // Stored JSON is compact, so it is one line; anything else is split the way the SSE format needs.
        while (true)
        {
            output.Write("data: "u8);
            var end = data.IndexOfAny((byte)'\r', (byte)'\n');
            if (end < 0)
            {
                output.Write(data);
                output.Write("\n"u8);
                break;
            }
            output.Write(data[..end]);
            output.Write("\n"u8);
            data = data[(data[end] == '\r' && end + 1 < data.Length && data[end + 1] == '\n' ? end + 2 : end + 1)..];
        }
        if (id is { } eventId) WriteField(output, "id: "u8, eventId);
        if (retryMs is { } retry) WriteField(output, "retry: "u8, retry);
        output.Write("\n"u8);
    }

    private static void WriteField(IBufferWriter<byte> output, ReadOnlySpan<byte> name, long value)
    {
        output.Write(name);
        var span = output.GetSpan(21);
        Utf8Formatter.TryFormat(value, span, out var written);
        span[written] = (byte)'\n';
        output.Advance(written + 1);
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(SseItem<JsonElement>), ["text/event-stream"]));
}
