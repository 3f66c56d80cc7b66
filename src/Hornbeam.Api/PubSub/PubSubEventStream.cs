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
/// <c>id</c> = its event id and <c>data</c> = its JSON, <c>event: gap</c> where history no longer reaches back, and a
/// <c>: ping</c> comment every keep-alive interval so proxies keep the connection. It ends in one place (<see cref="End"/>),
/// whatever ends it: <c>event: overflow</c> for a slow subscriber, <c>event: reconnect</c> when the node cannot serve it (Redis
/// unavailable, shutting down), each with <c>retry</c>. A subscribe that fails for such a passing reason is the same stream with
/// only the <c>reconnect</c> event, still a 200: EventSource reconnects after <c>retry</c> by itself, but gives up for good on
/// any other status. The framing is the one <see cref="TypedResults.ServerSentEvents{T}(IAsyncEnumerable{SseItem{T}})"/> writes,
/// done here straight into the response's pipe: one message goes to every subscriber of a node, so each delivery is one copy and
/// one flush, with no per-event formatter pass, task or timer race.
/// </summary>
public sealed class PubSubEventStream : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private static readonly byte[] Ping = ": ping\n\n"u8.ToArray();
    private readonly PubSubSubscription? _subscription;
    private readonly PubSubOptions _options;
    private readonly CancellationTokenSource _ending = new();
    private PubSubStreamEnd? _end;

    public PubSubEventStream(PubSubSubscription subscription, PubSubOptions options)
    {
        _subscription = subscription;
        _options = options;
    }

    /// <summary>A stream that only tells the client to reconnect: the subscription could not be made right now.</summary>
    internal PubSubEventStream(PubSubStreamEnd refused, PubSubOptions options)
    {
        _options = options;
        _end = refused;
    }

    public int? StatusCode => StatusCodes.Status200OK;

    /// <summary>
    /// Ends the stream with <paramref name="end"/>'s event (the first end asked for wins): delivery stops after the event being
    /// written.
    /// </summary>
    internal void End(PubSubStreamEnd end)
    {
        if (Interlocked.CompareExchange(ref _end, end, null) is null) _ending.Cancel();
    }

    public async Task ExecuteAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.ContentEncoding = "identity";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var output = response.BodyWriter;
        if (_subscription is null)
        {
            await WriteEndAsync(output, context.RequestAborted);
            return;
        }
        await using var subscription = _subscription;
        var cancellation = context.RequestAborted;
        // Events and pings share the pipe: the gate keeps a ping from landing inside an event.
        using var gate = new SemaphoreSlim(1, 1);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _ending.Token);
        var keepAlive = Task.CompletedTask;
        var last = subscription.StartsAfter;
        try
        {
            WriteEvent(output, "subscribed"u8, JsonSerializer.SerializeToUtf8Bytes(
                new PubSubSubscribed(subscription.Topic, subscription.StartsAfter), PubSubJsonContext.Default.PubSubSubscribed),
                id: null, retryMs: RetryMs);
            await output.FlushAsync(cancellation);
            keepAlive = KeepAliveAsync(output, gate, _options.KeepAliveInterval, stopping.Token);

            await foreach (var message in subscription.WithCancellation(stopping.Token))
            {
                if (message.Kind is PubSubMessageKind.Overflow or PubSubMessageKind.Reconnect)
                {
                    End(PubSubStreamEnd.From(message));
                    break;
                }
                await gate.WaitAsync(cancellation);
                FlushResult flushed;
                try
                {
                    WriteEvent(output, message.Kind == PubSubMessageKind.Gap ? "gap"u8 : default, message.Json, message.Id);
                    flushed = await output.FlushAsync(cancellation);
                }
                finally
                {
                    gate.Release();
                }
                if (flushed.IsCompleted) return; // the connection is gone
                last = message.Id;
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return; // The client went away.
        }
        catch (OperationCanceledException) when (_ending.IsCancellationRequested)
        {
            // Ended by End.
        }
        catch (Exception e) when (PubSubStreamEnd.Temporary(e) is { } reason)
        {
            // Catching up from history needs Redis.
            End(PubSubStreamEnd.Reconnect(reason, last, _options.RetryInterval));
        }
        finally
        {
            await stopping.CancelAsync();
            await keepAlive;
        }
        End(PubSubStreamEnd.Reconnect("this node ended the subscription; reconnect with your last event id", last,
            _options.RetryInterval));
        await WriteEndAsync(output, cancellation);
    }

    private long RetryMs => (long)_options.RetryInterval.TotalMilliseconds;

    /// <summary>The one place the stream ends: the end's event, with <c>retry</c> so the client knows when to come back.</summary>
    private async Task WriteEndAsync(PipeWriter output, CancellationToken cancellation)
    {
        if (_end is not { Event: { } name, Data: { } data }) return;
        WriteEvent(output, System.Text.Encoding.UTF8.GetBytes(name), data, id: null, retryMs: RetryMs);
        try
        {
            await output.FlushAsync(cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    /// <summary>A <c>: ping</c> comment every <paramref name="interval"/>, under the stream's gate; the change feed's too.</summary>
    internal static async Task KeepAliveAsync(PipeWriter output, SemaphoreSlim gate, TimeSpan interval, CancellationToken stopping)
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
