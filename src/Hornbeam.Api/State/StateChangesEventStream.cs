using System.Buffers;
using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hornbeam.Api.PubSub;
using Hornbeam.PubSub;
using Hornbeam.State;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;

namespace Hornbeam.Api.State;

/// <summary>
/// A change feed as a <c>text/event-stream</c>, framed as /pubsub's streams are: <c>event: subscribed</c> with <c>retry</c>,
/// then each change as a default (<c>message</c>) event with <c>id</c> = the feed's position, <c>event: gap</c> where changes
/// were lost, a <c>: ping</c> comment every keep-alive interval, and <c>event: reconnect</c> (or <c>expired</c>) as the last
/// event when the node cannot go on. A watch that fails for a passing reason (Redis unavailable) is a 200 stream with only the
/// <c>reconnect</c> event, since EventSource gives up for good on any other status.
/// </summary>
public sealed class StateChangesEventStream : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private static readonly JsonWriterOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };
    private readonly StateChangeFeed? _feed;
    private readonly PubSubOptions _options;
    private readonly string? _lastEventId;
    private readonly CancellationTokenSource _ending = new();
    private readonly Lock _gate = new();
    private (string Event, byte[] Data)? _end;
    private volatile string? _last;

    internal StateChangesEventStream(StateChangeFeed feed, PubSubOptions options, string? lastEventId)
    {
        (_feed, _options, _lastEventId) = (feed, options, lastEventId);
    }

    /// <summary>A stream that only tells the client to reconnect: the watch could not be made right now.</summary>
    internal StateChangesEventStream(string reason, PubSubOptions options, string? lastEventId)
    {
        (_options, _lastEventId) = (options, lastEventId);
        _end = Reconnect(reason, lastEventId);
    }

    public int? StatusCode => StatusCodes.Status200OK;

    /// <summary>Ends the stream with <paramref name="name"/> and its JSON <paramref name="data"/>; the first end asked for wins.</summary>
    internal void End(string name, byte[] data)
    {
        lock (_gate)
        {
            if (_end is not null) return;
            _end = (name, data);
        }
        _ending.Cancel();
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
        var cancellation = context.RequestAborted;
        if (_feed is null)
        {
            await WriteEndAsync(output, cancellation);
            return;
        }
        await using var feed = _feed;
        using var gate = new SemaphoreSlim(1, 1);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _ending.Token);
        var keepAlive = Task.CompletedTask;
        var last = _last = feed.StartsAfter;
        try
        {
            WriteEvent(output, "subscribed", Object(w =>
            {
                w.WriteString("prefix"u8, feed.Prefix);
                w.WriteString("last_event_id"u8, feed.StartsAfter);
            }), id: null, retryMs: RetryMs);
            await output.FlushAsync(cancellation);
            keepAlive = PubSubEventStream.KeepAliveAsync(output, gate, _options.KeepAliveInterval, stopping.Token);
            await foreach (var change in feed.WithCancellation(stopping.Token))
            {
                await gate.WaitAsync(cancellation);
                FlushResult flushed;
                try
                {
                    if (change.Op == StateChange.Gap)
                        WriteEvent(output, "gap", Object(w =>
                        {
                            w.WriteString("reason"u8, change.Reason);
                            w.WriteString("last_event_id"u8, last);
                            w.WriteString("resumes_after"u8, change.Id);
                        }), change.Id);
                    else WriteEvent(output, null, Change(change), change.Id);
                    flushed = await output.FlushAsync(cancellation);
                }
                finally
                {
                    gate.Release();
                }
                if (flushed.IsCompleted) return;
                last = _last = change.Id;
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
        catch (Exception e) when (Api.PubSub.PubSubStreamEnd.Temporary(e) is { } reason)
        {
            End("reconnect", Reconnect(reason, last).Data);
        }
        finally
        {
            await stopping.CancelAsync();
            await keepAlive;
        }
        End("reconnect", Reconnect("this node ended the feed; reconnect with your last event id", last).Data);
        await WriteEndAsync(output, cancellation);
    }

    private long RetryMs => (long)_options.RetryInterval.TotalMilliseconds;

    private (string Event, byte[] Data) Reconnect(string reason, string? lastEventId) => ("reconnect", Object(w =>
    {
        w.WriteString("reason"u8, reason);
        if (lastEventId is not null) w.WriteString("last_event_id"u8, lastEventId);
        w.WriteNumber("retry_ms"u8, RetryMs);
    }));

    /// <summary>The <c>reconnect</c> end of a stream the node stops serving (shutting down).</summary>
    internal void EndForShutdown() =>
        End("reconnect", Reconnect("this node is shutting down; reconnect (any node) with your last event id", _last ?? _lastEventId).Data);

    private static byte[] Change(StateChange change) => Object(w =>
    {
        w.WriteString("key"u8, change.Key);
        w.WriteString("op"u8, change.Op);
        if (change.Value is { } value)
        {
            w.WritePropertyName("value"u8);
            w.WriteRawValue(value, skipInputValidation: true);
        }
        if (change.Delta is { } delta) w.WriteNumber("delta"u8, delta);
        if (change.ETag is { } etag) w.WriteString("etag"u8, etag);
        if (change.Version is { } version) w.WriteString("version"u8, version);
    });

    private static byte[] Object(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, Json))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private async Task WriteEndAsync(PipeWriter output, CancellationToken cancellation)
    {
        if (_end is not { } end) return;
        WriteEvent(output, end.Event, end.Data, id: null, retryMs: RetryMs);
        try
        {
            await output.FlushAsync(cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    /// <summary>One event; the data is compact JSON, so one <c>data:</c> line.</summary>
    private static void WriteEvent(PipeWriter output, string? type, byte[] data, string? id, long? retryMs = null)
    {
        var text = new StringBuilder();
        if (type is not null) text.Append("event: ").Append(type).Append('\n');
        output.Write(Encoding.UTF8.GetBytes(text.Append("data: ").ToString()));
        output.Write(data);
        text.Clear().Append('\n');
        if (id is not null) text.Append("id: ").Append(id).Append('\n');
        if (retryMs is { } retry) text.Append("retry: ").Append(retry).Append('\n');
        output.Write(Encoding.UTF8.GetBytes(text.Append('\n').ToString()));
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(SseItem<JsonElement>),
            ["text/event-stream"]));
}
