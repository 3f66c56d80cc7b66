using System.Buffers;
using System.Net;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Api.PubSub;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.PubSub;

/// <summary>The pub/sub routes of one host: publish, SSE, WebSocket, listing, errors, and the embedded store.</summary>
[Trait("Redis", "Cluster")]
public sealed class PubSubApiTests(ReplicaPair hosts) : IClassFixture<ReplicaPair>
{
    private static async Task<JsonElement> ReceiveJsonAsync(WebSocket socket)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        var length = 0;
        WebSocketReceiveResult frame;
        do
        {
            frame = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), deadline.Token);
            length += frame.Count;
        } while (!frame.EndOfMessage);
        Assert.Equal(WebSocketMessageType.Text, frame.MessageType);
        return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
    }

    private static Task SendTextAsync(WebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    [Fact]
    public async Task AWebSocketReceivesMessagesAsJsonFramesAndPublishesTheTextFramesItSends()
    {
        var (a, b) = (hosts.A, hosts.B);
        var room = Guid.NewGuid().ToString("N")[..8];
        using var socket = await a.Server.CreateWebSocketClient()
            .ConnectAsync(new Uri(a.Server.BaseAddress, $"/ws/chat/{room}"), CancellationToken.None);
        var subscribed = await ReceiveJsonAsync(socket);
        Assert.Equal("subscribed", subscribed.GetProperty("event").GetString());
        Assert.Equal($"chat:{room}", subscribed.GetProperty("topic").GetString());
        await using var sse = await SseStream.OpenAsync(b.CreateClient(), $"/pubsub/chat:{room}");

        var published = await (await b.CreateClient().PostAsync($"/pubsub/chat:{room}", Http.Json("{\"text\":\"hello\"}"))).ReadJsonAsync();
        Assert.Equal(2, published.GetProperty("subscribers").GetInt64());
        var message = await ReceiveJsonAsync(socket);
        Assert.Equal("message", message.GetProperty("event").GetString());
        Assert.Equal(published.GetProperty("id").GetInt64(), message.GetProperty("id").GetInt64());
        Assert.Equal("hello", message.GetProperty("data").GetProperty("text").GetString());
        Assert.Equal("hello", (await sse.NextAsync()).Json.GetProperty("text").GetString());

        await SendTextAsync(socket, "{\"text\":\"from the socket\"}");
        var frames = new[] { await ReceiveJsonAsync(socket), await ReceiveJsonAsync(socket) };
        var ack = Assert.Single(frames, f => f.GetProperty("event").GetString() == "published");
        Assert.Equal(2, ack.GetProperty("subscribers").GetInt64());
        var echo = Assert.Single(frames, f => f.GetProperty("event").GetString() == "message");
        Assert.Equal("from the socket", echo.GetProperty("data").GetProperty("text").GetString());
        var onOtherHost = await sse.NextAsync();
        Assert.Equal(ack.GetProperty("id").GetInt64().ToString(), onOtherHost.Id);
        Assert.Equal("from the socket", onOtherHost.Json.GetProperty("text").GetString());

        // A bad frame gets an error frame and the connection stays usable.
        await SendTextAsync(socket, "{not json");
        var error = await ReceiveJsonAsync(socket);
        Assert.Equal("error", error.GetProperty("event").GetString());
        Assert.Contains("not valid JSON", error.GetProperty("detail").GetString());
        await SendTextAsync(socket, "42");
        Assert.Contains((await ReceiveJsonAsync(socket)).GetProperty("event").GetString(), new[] { "published", "message" });

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        await Poll.UntilAsync(async () => (await (await b.CreateClient().PostAsync($"/pubsub/chat:{room}", Http.Json("0"))).ReadJsonAsync())
            .GetProperty("subscribers").GetInt64() == 1, because: "a closed WebSocket stops counting");
    }

    [Fact]
    public async Task AnSseClientThatStopsReadingGetsAnOverflowEventAndTheOthersKeepReceiving()
    {
        // A host of its own: a buffer of four messages would cut off the other tests' subscribers.
        await using var api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:PubSub:BufferCapacity"] = "4",
        });
        var client = api.CreateClient();
        await using var slow = await SseStream.OpenAsync(client, "/pubsub/video");
        await using var fast = await SseStream.OpenAsync(client, "/pubsub/video");
        var frame = JsonSerializer.Serialize(new string('x', 16 * 1024));
        const int count = 60;
        var before = fast.StartsAfter;
        for (var i = 1; i <= count; i++)
        {
            await client.PostAsync("/pubsub/video", Http.Json(frame));
            Assert.Equal((before + i).ToString(), (await fast.NextAsync()).Id);
        }

        var events = new List<SseEvent>();
        while (await slow.NextOrEndAsync() is { } e) events.Add(e);
        Assert.Equal("overflow", events[^1].Event);
        Assert.Equal(4, events[^1].Json.GetProperty("buffer_capacity").GetInt32());
        var ids = events.SkipLast(1).Select(e => long.Parse(e.Id!)).ToArray();
        Assert.True(ids.Length < count, $"the slow client got all {ids.Length} messages");
        Assert.Equal(Enumerable.Range(1, ids.Length).Select(i => slow.StartsAfter + i), ids);
        Assert.Equal(ids[^1], events[^1].Json.GetProperty("last_event_id").GetInt64());
        Assert.Equal(1, (await (await client.PostAsync("/pubsub/video", Http.Json("0"))).ReadJsonAsync())
            .GetProperty("subscribers").GetInt64());
    }

    [Fact]
    public async Task ListingTopicsShowsSubscriberCountsAcrossHosts()
    {
        var (a, b) = (hosts.A, hosts.B);
        // The hosts are shared with the class's other tests, so this test's topics end with an id of its own.
        var id = Guid.NewGuid().ToString("N")[..8];
        await using var one = await SseStream.OpenAsync(a.CreateClient(), $"/pubsub/news-{id}");
        await using var two = await SseStream.OpenAsync(b.CreateClient(), $"/pubsub/news-{id}");
        await using var three = await SseStream.OpenAsync(b.CreateClient(), $"/pubsub/alerts/fire-{id}");
        var news = await (await a.CreateClient().PostAsync($"/pubsub/news-{id}", Http.Json("1"))).ReadJsonAsync();

        var list = await (await a.CreateClient().GetAsync("/pubsub")).ReadJsonAsync();
        var topics = list.GetProperty("topics").EnumerateArray()
            .Where(t => t.GetProperty("topic").GetString()!.EndsWith(id, StringComparison.Ordinal))
            .ToDictionary(
                t => t.GetProperty("topic").GetString()!,
                t => (t.GetProperty("subscribers").GetInt64(), t.GetProperty("last_event_id").GetInt64()));
        // A topic never published still has a last id: the one its subscribers' first message will follow.
        Assert.Equal(new Dictionary<string, (long, long)>
        {
            [$"alerts/fire-{id}"] = (1, three.StartsAfter),
            [$"news-{id}"] = (2, news.GetProperty("id").GetInt64()),
        }, topics);
    }

    [Fact]
    public async Task EventsAreFramedByteForByteAsTheSseFormatterFramesThem()
    {
        (string? Type, string Data, long? Id, long? RetryMs)[] events =
        [
            (null, """{"a":1,"b":"x"}""", 1, null),
            ("gap", """{"last_event_id":1,"resumes_after":4}""", 4, null),
            ("subscribed", """{"topic":"t","last_event_id":0}""", null, 3000),
            ("reconnect", "{}", null, null),
            ("overflow", "one\r\ntwo\nthree\rfour\n", null, null),
            (null, "", long.MaxValue, null),
        ];
        foreach (var e in events)
        {
            var item = new SseItem<byte[]>(Encoding.UTF8.GetBytes(e.Data), e.Type)
            {
                EventId = e.Id?.ToString(),
                ReconnectionInterval = e.RetryMs is { } retry ? TimeSpan.FromMilliseconds(retry) : null,
            };
            using var expected = new MemoryStream();
            await SseFormatter.WriteAsync(One(item), expected, (i, w) => w.Write(i.Data));
            var actual = new ArrayBufferWriter<byte>();
            PubSubEventStream.WriteEvent(actual, e.Type is null ? default : Encoding.UTF8.GetBytes(e.Type), item.Data, e.Id, e.RetryMs);
            Assert.Equal(Encoding.UTF8.GetString(expected.ToArray()), Encoding.UTF8.GetString(actual.WrittenSpan));
        }

        static async IAsyncEnumerable<SseItem<byte[]>> One(SseItem<byte[]> item)
        {
            await Task.Yield();
            yield return item;
        }
    }

    [Fact]
    public async Task TheStreamCarriesRetryAndACommentHeartbeat()
    {
        // A host of its own: a 50 ms heartbeat and a 1.5 s retry instead of the defaults.
        var settings = new Dictionary<string, string?>
        {
            ["Hornbeam:PubSub:KeepAliveInterval"] = "00:00:00.050",
            ["Hornbeam:PubSub:RetryInterval"] = "00:00:01.500",
        };
        await using var api = await HornbeamApiFactory.StartAsync(settings: settings);
        await using var stream = await SseStream.OpenAsync(api.CreateClient(), "/pubsub/quiet");
        Assert.Equal(1500, stream.Subscribed.Retry);
        Assert.True(stream.Response.Headers.CacheControl is { NoCache: true, NoStore: true }, "proxies must not cache the stream");
        // Nothing is published, so the read times out; meanwhile the 50 ms heartbeat has written comments (3 s leaves room for a
        // loaded machine).
        // The test server reports a cancelled read as OperationCanceledException or as an IOException around one, by race.
        var timedOut = await Record.ExceptionAsync(() => stream.NextOrEndAsync(TimeSpan.FromSeconds(3)));
        Assert.True(timedOut is OperationCanceledException || timedOut?.InnerException is OperationCanceledException,
            $"the read should time out, not end with {timedOut}");
        Assert.Contains(": ping", stream.Comments);
    }

    [Fact]
    public async Task BadInputGetsAProblemAndPublishesNothing()
    {
        // A host of its own: a 100-byte value limit, small enough to test without a large body.
        await using var api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:MaxValueBytes"] = "100",
        });
        var client = api.CreateClient();
        await using var stream = await SseStream.OpenAsync(client, "/pubsub/t");

        await (await client.PostAsync("/pubsub/t", Http.Json("{oops"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync("/pubsub/t", Http.Json(new string('1', 101)))).AssertProblemAsync(413, ProblemTypes.TooLarge);
        var request = new HttpRequestMessage(HttpMethod.Get, "/pubsub/t");
        request.Headers.Add("Last-Event-ID", "yesterday");
        await (await client.SendAsync(request)).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.GetAsync("/pubsub/t?last_event_id=-1")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.GetAsync("/ws/t")).AssertProblemAsync(400, ProblemTypes.InvalidInput);

        var ok = await (await client.PostAsync("/pubsub/t", Http.Json("\"fine\""))).ReadJsonAsync();
        Assert.Equal(stream.StartsAfter + 1, ok.GetProperty("id").GetInt64());
        Assert.Equal("\"fine\"", (await stream.NextAsync()).Data);
    }

    [Fact]
    public async Task TheEmbeddedStorePublishesCountsAndReplays()
    {
        // A host of its own: the embedded store, with no connection string.
        await using var api = new HornbeamApiFactory(null, TestPrefix.New());
        var client = api.CreateClient();
        var first = await SseStream.OpenAsync(client, "/pubsub/chat:general");
        for (var i = 1; i <= 3; i++)
        {
            var published = await (await client.PostAsync("/pubsub/chat:general", Http.Json($"{{\"n\":{i}}}"))).ReadJsonAsync();
            Assert.Equal(1, published.GetProperty("subscribers").GetInt64());
            Assert.Equal(first.StartsAfter + i, published.GetProperty("id").GetInt64());
        }
        var ids = (await first.TakeAsync(3)).Select(e => e.Id).ToArray();
        Assert.Equal([1, 2, 3], ids.Select(id => long.Parse(id!) - first.StartsAfter));
        var list = await (await client.GetAsync("/pubsub")).ReadJsonAsync();
        Assert.Equal(1, list.GetProperty("topics")[0].GetProperty("subscribers").GetInt64());
        await first.DisposeAsync();

        await using var again = await SseStream.OpenAsync(client, "/pubsub/chat:general", lastEventId: ids[0]);
        var replayed = await again.TakeAsync(2);
        Assert.Equal(ids[1..], replayed.Select(e => e.Id));
        Assert.Equal(3, replayed[1].Json.GetProperty("n").GetInt32());
    }
}
