using System.Text;
using System.Text.Json;

namespace Hornbeam.Tests.PubSub;

/// <summary>One server-sent event as a client sees it.</summary>
public sealed record SseEvent(string Event, string? Id, string Data, int? Retry)
{
    public JsonElement Json => JsonDocument.Parse(Data).RootElement;
}

/// <summary>A Server-Sent Events subscription read line by line, as a browser's EventSource would, with a deadline on every read.</summary>
public sealed class SseStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseStream(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public List<string> Comments { get; } = [];

    /// <summary>The first event: the topic and the id delivery continues after, with the stream's <c>retry</c>.</summary>
    public SseEvent Subscribed { get; private set; } = null!;

    /// <summary>
    /// The id the stream continues after (its <c>subscribed</c> event's <c>last_event_id</c>): a topic's ids start from the time.
    /// </summary>
    public long StartsAfter => Subscribed.Json.GetProperty("last_event_id").GetInt64();

    /// <summary>The same for a stream whose ids are text (the state change feed's positions).</summary>
    public string StartsAfterId => Subscribed.Json.GetProperty("last_event_id").GetString()!;

    public HttpResponseMessage Response => _response;

    /// <summary>Opens the stream and reads up to its <c>subscribed</c> event, after which the subscriber counts.</summary>
    public static async Task<SseStream> OpenAsync(HttpClient client, string url, string? lastEventId = null)
    {
        var stream = await ConnectAsync(client, url, lastEventId);
        stream.Subscribed = await stream.NextAsync();
        Assert.Equal("subscribed", stream.Subscribed.Event);
        return stream;
    }

    /// <summary>
    /// Opens the stream as EventSource does, which gives up for good on anything but a 200 <c>text/event-stream</c>; the first
    /// event is the caller's to read (<c>subscribed</c>, or <c>reconnect</c> when the node cannot serve the subscription now).
    /// </summary>
    public static async Task<SseStream> ConnectAsync(HttpClient client, string url, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        if (!response.IsSuccessStatusCode)
            Assert.Fail($"{url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseStream(response, await response.Content.ReadAsStreamAsync(deadline.Token));
    }

    /// <summary>The next event, skipping comments (kept in <see cref="Comments"/>); null when the stream ended.</summary>
    public async Task<SseEvent> NextAsync(TimeSpan? timeout = null) =>
        await NextOrEndAsync(timeout) ?? throw new InvalidOperationException("The event stream ended.");

    public async Task<SseEvent?> NextOrEndAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        string? type = null, id = null;
        int? retry = null;
        var data = new StringBuilder();
        var any = false;
        while (true)
        {
            var line = await _reader.ReadLineAsync(deadline.Token);
            if (line is null) return null;
            if (line.Length == 0)
            {
                if (any) return new SseEvent(type ?? "message", id, data.ToString(), retry);
                continue;
            }
            if (line[0] == ':')
            {
                Comments.Add(line);
                continue;
            }
            any = true;
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "event": type = value; break;
                case "id": id = value; break;
                case "retry": retry = int.Parse(value); break;
                case "data":
                    if (data.Length > 0) data.Append('\n');
                    data.Append(value);
                    break;
            }
        }
    }

    /// <summary>The next <paramref name="count"/> events.</summary>
    public async Task<List<SseEvent>> TakeAsync(int count)
    {
        var events = new List<SseEvent>(count);
        for (var i = 0; i < count; i++) events.Add(await NextAsync());
        return events;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
