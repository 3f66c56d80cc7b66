using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hornbeam.Tests.Browser;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.PubSub;

/// <summary>
/// How a WebSocket subscription ends, read by .NET's ClientWebSocket over real Kestrel (the test server has no TCP back-pressure
/// and no close handshake on the wire): every frame whole, then a last frame and a close code that says what to do.
/// </summary>
public sealed class PubSubWebSocketCloseTests(PubSubWebSocketCloseTests.Host host) : IClassFixture<PubSubWebSocketCloseTests.Host>
{
    /// <summary>
    /// One host on real Kestrel, with a small subscriber buffer so that a client that stops reading overflows soon, and
    /// keep-alives far more often than the client reads: they must not cut it off.
    /// </summary>
    public sealed class Host : IAsyncLifetime
    {
        public KestrelHost Api { get; private set; } = null!;

        public async Task InitializeAsync() => Api = await KestrelHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:PubSub:BufferCapacity"] = "100",
            ["Hornbeam:PubSub:KeepAliveInterval"] = "00:00:00.100",
        });

        public async Task DisposeAsync() => await Api.DisposeAsync();
    }

    /// <summary>A frame as the client got it: a whole message, or the close frame (null).</summary>
    private static async Task<JsonElement?> ReceiveAsync(WebSocket socket, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var message = new MemoryStream();
        var buffer = new byte[16 * 1024];
        WebSocketReceiveResult frame;
        do
        {
            frame = await socket.ReceiveAsync(buffer, deadline.Token);
            if (frame.MessageType == WebSocketMessageType.Close) return null;
            message.Write(buffer, 0, frame.Count);
        } while (!frame.EndOfMessage);
        Assert.Equal(WebSocketMessageType.Text, frame.MessageType);
        // Every frame is one whole JSON document: a message cut short does not parse.
        return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
    }

    private static async Task<ClientWebSocket> ConnectAsync(KestrelHost api, string topicPath)
    {
        var socket = new ClientWebSocket();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(api.WebSocketUri($"/ws/{topicPath}"), deadline.Token);
        var subscribed = await ReceiveAsync(socket);
        Assert.Equal("subscribed", subscribed?.GetProperty("event").GetString());
        return socket;
    }

    private static async Task CompleteCloseAsync(WebSocket socket)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", deadline.Token);
        Assert.Equal(WebSocketState.Closed, socket.State);
    }

    [Fact]
    public async Task AWebSocketThatReadsTooSlowlyGetsWholeFramesThenAnOverflowFrameAndClose1013()
    {
        var room = Guid.NewGuid().ToString("N")[..8];
        using var socket = await ConnectAsync(host.Api, $"slow/{room}");
        // 2,000 messages of 8 KB while the client reads nothing: more than the socket buffers and 100 waiting messages hold.
        var padding = new string('x', 8 * 1024);
        for (var i = 0; i < 2000; i += 10)
            await Task.WhenAll(Enumerable.Range(i, 10).Select(n =>
                host.Api.PubSub.PublishJsonAsync($"slow:{room}", Encoding.UTF8.GetBytes($$"""{"n":{{n}},"pad":"{{padding}}"}"""))));

        var ids = new List<long>();
        JsonElement? overflow = null;
        while (await ReceiveAsync(socket) is { } frame)
        {
            Assert.Null(overflow); // nothing after the overflow frame but the close
            var kind = frame.GetProperty("event").GetString();
            if (kind == "overflow") overflow = frame;
            else
            {
                Assert.Equal("message", kind);
                Assert.Equal(padding, frame.GetProperty("data").GetProperty("pad").GetString());
                ids.Add(frame.GetProperty("id").GetInt64());
            }
        }
        Assert.Equal(1013, (int?)socket.CloseStatus); // Try Again Later
        Assert.NotNull(overflow);
        Assert.InRange(ids.Count, 100, 1999);
        Assert.Equal(Enumerable.Range(0, ids.Count).Select(i => ids[0] + i), ids); // in order, none missing, none twice
        var data = overflow.Value.GetProperty("data");
        Assert.Equal(ids[^1], data.GetProperty("last_event_id").GetInt64());
        Assert.Equal(100, data.GetProperty("buffer_capacity").GetInt64());
        await CompleteCloseAsync(socket);
    }

    [Fact]
    public async Task AWebSocketClosedByItsClientIsAnsweredWithACloseFrameAndStopsCounting()
    {
        var room = Guid.NewGuid().ToString("N")[..8];
        using var socket = await ConnectAsync(host.Api, $"closing/{room}");
        Assert.Equal(1, (await host.Api.PubSub.TopicAsync($"closing:{room}")).Subscribers);

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // CloseAsync sends the client's close frame and returns once the server's answer arrives.
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", deadline.Token);
        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        await Poll.UntilAsync(async () => (await host.Api.PubSub.TopicAsync($"closing:{room}")).Subscribers == 0,
            because: "a closed WebSocket stops counting");
    }

    [Fact]
    public async Task AHostShuttingDownSendsAReconnectFrameThenClose1001()
    {
        // A host of its own: the test stops it.
        var api = await KestrelHost.StartAsync();
        var room = Guid.NewGuid().ToString("N")[..8];
        using var socket = await ConnectAsync(api, $"news/{room}");
        var published = await api.PubSub.PublishJsonAsync($"news:{room}", "\"one\""u8.ToArray());
        Assert.Equal(published.Id, (await ReceiveAsync(socket))?.GetProperty("id").GetInt64());

        var clock = Stopwatch.StartNew();
        var stopping = api.DisposeAsync().AsTask();
        var reconnect = await ReceiveAsync(socket);
        Assert.Equal("reconnect", reconnect?.GetProperty("event").GetString());
        Assert.Equal(published.Id, reconnect?.GetProperty("data").GetProperty("last_event_id").GetInt64());
        Assert.Null(await ReceiveAsync(socket));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
        await CompleteCloseAsync(socket);
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        // The server waited for the client's close frame, not for its shutdown timeout.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the host stopped {clock.Elapsed} after it was asked to");
    }

    // A browser's WebSocket: it answers the server's close frame by itself; onclose says the code and whether the close was clean.
    // With close set, the page closes the socket itself once subscribed.
    private const string BrowserSocket = """
        async ({ url, close }) => new Promise((resolve) => {
          const socket = new WebSocket(url);
          const frames = [];
          socket.onmessage = (e) => {
            frames.push(JSON.parse(e.data).event);
            if (close && frames.length === 1) socket.close(1000, 'bye');
          };
          socket.onclose = (e) => resolve({ code: e.code, wasClean: e.wasClean, frames });
        })
        """;

    [BrowserFact]
    public async Task ABrowsersWebSocketIsClosedCleanlyWith1001WhenItsHostShutsDown()
    {
        // A host of its own: the test stops it.
        var api = await KestrelHost.StartAsync();
        var topic = Guid.NewGuid().ToString("N");
        // A page on the API's own origin.
        var browser = BrowserHarness.RunAsync(new Uri(api.Client.BaseAddress!, "/health/live"), BrowserSocket,
            new { url = api.WebSocketUri($"/ws/{topic}"), close = false }, TimeSpan.FromSeconds(60));
        await Poll.UntilAsync(async () => (await api.PubSub.TopicAsync(topic)).Subscribers == 1, TimeSpan.FromSeconds(30),
            "the page subscribed");

        await api.DisposeAsync();
        var closed = await browser;
        Assert.Equal(1001, closed.GetProperty("code").GetInt32());
        Assert.True(closed.GetProperty("wasClean").GetBoolean(), $"the close handshake completed: {closed}");
        Assert.Equal(["subscribed", "reconnect"], closed.GetProperty("frames").EnumerateArray().Select(f => f.GetString()));
    }

    [BrowserFact]
    public async Task ABrowserThatClosesItsWebSocketGetsACleanClose()
    {
        var closed = await BrowserHarness.RunAsync(new Uri(host.Api.Client.BaseAddress!, "/health/live"), BrowserSocket,
            new { url = host.Api.WebSocketUri($"/ws/{Guid.NewGuid():N}"), close = true });
        Assert.Equal(1000, closed.GetProperty("code").GetInt32());
        Assert.True(closed.GetProperty("wasClean").GetBoolean(), $"the server answered the close frame: {closed}");
    }
}
