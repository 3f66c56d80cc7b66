using System.Net.WebSockets;
using System.Text.Json;
using Hornbeam.Tests.Browser;
using Hornbeam.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.PubSub;

/// <summary>
/// A Server-Sent Events subscriber across a Redis outage, reconnecting the way a browser's EventSource does: it never gets a
/// status that would make EventSource give up, and once Redis is back it resumes with no gap and no duplicate.
/// </summary>
public sealed class PubSubOutageTests(PubSubOutageTests.Host host) : IClassFixture<PubSubOutageTests.Host>
{
    /// <summary>
    /// A Redis of the class's own, which the tests stop, with every write on disk (append-only, fsync always) so that history
    /// outlives the outage as it does on a persistent Redis; and a host on it over real Kestrel, with a short retry.
    /// </summary>
    public sealed class Host : IAsyncLifetime
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("hornbeam-outage-").FullName;

        private int _subscribes;

        public LocalRedisProcess Redis { get; private set; } = null!;
        public KestrelHost Api { get; private set; } = null!;

        /// <summary>Requests for a topic's event stream so far: every reconnect of a client, served or told to come back, is one.</summary>
        public int Subscribes => Volatile.Read(ref _subscribes);

        public async Task InitializeAsync()
        {
            Redis = await LocalRedisProcess.StartAsync(null, "--appendonly", "yes", "--appendfsync", "always", "--dir", _dir);
            Api = await KestrelHost.StartAsync(Redis.ConnectionString,
                new Dictionary<string, string?> { ["Hornbeam:PubSub:RetryInterval"] = "00:00:00.200" },
                hornbeam => hornbeam.Services.AddSingleton<IStartupFilter>(new CountSubscribes(this)));
        }

        private sealed class CountSubscribes(Host host) : IStartupFilter
        {
            public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
            {
                app.Use((context, rest) =>
                {
                    if (HttpMethods.IsGet(context.Request.Method) && context.Request.Path.StartsWithSegments("/pubsub"))
                        Interlocked.Increment(ref host._subscribes);
                    return rest(context);
                });
                next(app);
            };
        }

        public async Task DisposeAsync()
        {
            await Api.DisposeAsync();
            Redis.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>What an EventSource does, as the HTML spec says: reconnect after <c>retry</c> with the last id it saw.</summary>
    private sealed class EventSourceLike(HttpClient client, string url)
    {
        private readonly List<SseEvent> _messages = [];
        private readonly object _gate = new();
        public string? LastEventId { get; private set; }
        public int Connections { get; private set; }
        public int Reconnects { get; private set; }
        public int Subscriptions { get; private set; }

        public SseEvent[] Messages
        {
            get
            {
                lock (_gate) return [.. _messages];
            }
        }

        public async Task RunAsync(CancellationToken stop)
        {
            var retry = TimeSpan.FromSeconds(3);
            while (!stop.IsCancellationRequested)
            {
                // Any status but 200 text/event-stream fails here: an EventSource would close for good.
                await using var stream = await SseStream.ConnectAsync(client, url, LastEventId);
                Connections++;
                // Stopping the client closes the stream it is reading.
                await using var closing = stop.Register(() => stream.DisposeAsync());
                try
                {
                    while (await stream.NextOrEndAsync(Timeout.InfiniteTimeSpan) is { } e)
                    {
                        if (e.Retry is { } ms) retry = TimeSpan.FromMilliseconds(ms);
                        if (e.Event == "subscribed") Subscriptions++;
                        if (e.Event == "reconnect") Reconnects++;
                        if (e.Id is not null) LastEventId = e.Id;
                        if (e.Event == "message")
                            lock (_gate) _messages.Add(e);
                    }
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    throw new OperationCanceledException(stop);
                }
                catch (IOException)
                {
                    // The connection broke rather than ended: EventSource reconnects the same way.
                }
                await Task.Delay(retry, stop);
            }
        }
    }

    private static async Task PublishAsync(HttpClient client, string topic, int from, int to)
    {
        for (var n = from; n <= to; n++)
            (await client.PostAsync($"/pubsub/{topic}", Http.Json($$"""{"n":{{n}}}"""))).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task AnSseSubscriberReconnectingLikeEventSourceResumesAfterARedisOutageWithNoGapAndNoDuplicate()
    {
        var topic = $"outage:{Guid.NewGuid():N}";
        var client = host.Api.Client;
        var source = new EventSourceLike(client, $"/pubsub/{topic}");
        using var stop = new CancellationTokenSource();
        var running = source.RunAsync(stop.Token);
        await Poll.UntilAsync(async () => (await host.Api.PubSub.TopicAsync(topic)).Subscribers == 1, because: "the client subscribed");
        await PublishAsync(client, topic, 1, 5);
        await Poll.UntilAsync(() => Task.FromResult(source.Messages.Length == 5), because: "the first messages arrive");

        host.Redis.Stop();
        // Told to reconnect when the node loses Redis, then again on every attempt while it is away: 200s, never a 503.
        await Poll.UntilAsync(() => Task.FromResult(source.Reconnects >= 3), TimeSpan.FromSeconds(30),
            "the client is told to reconnect while Redis is away");
        Assert.False(running.IsFaulted, running.Exception?.ToString());
        // What a retry cannot fix stays an HTTP error, outage or not.
        await (await client.GetAsync($"/pubsub/{topic}?last_event_id=-1")).AssertProblemAsync(400, Api.Problems.ProblemTypes.InvalidInput);

        await host.Redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the node serves again without a restart");
        // Published as soon as the node serves: some before the client is back (replayed from history), some after (live).
        await PublishAsync(client, topic, 6, 10);
        await Poll.UntilAsync(() => Task.FromResult(source.Subscriptions >= 2), TimeSpan.FromSeconds(30), "the client subscribed again");
        await PublishAsync(client, topic, 11, 15);
        await Poll.UntilAsync(() => Task.FromResult(source.Messages.Length >= 15), TimeSpan.FromSeconds(30),
            $"every message arrives (so far {source.Messages.Length})");

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        var messages = source.Messages;
        Assert.Equal(Enumerable.Range(1, 15), messages.Select(m => m.Json.GetProperty("n").GetInt32()));
        var ids = messages.Select(m => long.Parse(m.Id!)).ToArray();
        Assert.Equal(Enumerable.Range(0, 15).Select(i => ids[0] + i), ids); // one sequence across the outage: no gap, no duplicate
        Assert.True(source.Connections >= 3, $"the client reconnected by itself ({source.Connections} connections)");
    }

    [Fact]
    public async Task AWebSocketIsToldToReconnectWhenRedisGoesAwayAndWhenItConnectsMeanwhile()
    {
        var topic = Guid.NewGuid().ToString("N");
        async Task<JsonElement?> ReceiveAsync(WebSocket socket)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var buffer = new byte[64 * 1024];
            var frame = await socket.ReceiveAsync(buffer, deadline.Token);
            if (frame.MessageType == WebSocketMessageType.Close) return null;
            Assert.True(frame.EndOfMessage);
            return JsonDocument.Parse(buffer.AsMemory(0, frame.Count)).RootElement.Clone();
        }
        async Task AssertToldToReconnectAsync(ClientWebSocket socket)
        {
            var reconnect = await ReceiveAsync(socket);
            Assert.Equal("reconnect", reconnect?.GetProperty("event").GetString());
            Assert.Equal(200, reconnect?.GetProperty("data").GetProperty("retry_ms").GetInt64());
            Assert.Null(await ReceiveAsync(socket));
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            Assert.Equal(WebSocketState.Closed, socket.State);
        }

        using var open = new ClientWebSocket();
        await open.ConnectAsync(host.Api.WebSocketUri($"/ws/outage/{topic}"), CancellationToken.None);
        Assert.Equal("subscribed", (await ReceiveAsync(open))?.GetProperty("event").GetString());
        host.Redis.Stop();
        try
        {
            await AssertToldToReconnectAsync(open);
            // Connecting meanwhile: upgraded, then told the same, rather than a refused handshake that says nothing.
            using var meanwhile = new ClientWebSocket();
            await meanwhile.ConnectAsync(host.Api.WebSocketUri($"/ws/outage/{topic}?last_event_id=5"), CancellationToken.None);
            await AssertToldToReconnectAsync(meanwhile);
        }
        finally
        {
            await host.Redis.RestartAsync();
            await Poll.UntilAsync(async () => (await host.Api.Client.GetAsync("/health/ready")).IsSuccessStatusCode,
                TimeSpan.FromSeconds(30), "the node serves again");
        }
    }

    [BrowserFact]
    public async Task AnEventSourceInChromiumSurvivesARedisOutageAndResumesWithNoGap()
    {
        var topic = $"browser:{Guid.NewGuid():N}";
        var client = host.Api.Client;
        // A page on the API's own origin, so the EventSource needs no CORS.
        var browser = BrowserHarness.RunAsync(new Uri(client.BaseAddress!, "/health/live"), """
            async ({ url, count }) => {
              const source = new EventSource(url);
              const messages = [];
              let reconnects = 0, errors = 0;
              return await new Promise((resolve) => {
                const done = (closed) => { source.close(); resolve({ closed, messages, reconnects, errors }); };
                source.addEventListener('reconnect', () => reconnects++);
                // EventSource retries by itself; CLOSED means it gave up for good, as it does on a 503.
                source.onerror = () => { errors++; if (source.readyState === EventSource.CLOSED) done(true); };
                source.onmessage = (e) => {
                  messages.push({ id: e.lastEventId, n: JSON.parse(e.data).n });
                  if (messages.length === count) done(false);
                };
              });
            }
            """, new { url = $"/pubsub/{topic}", count = 15 }, TimeSpan.FromSeconds(90));
        await Poll.UntilAsync(async () => (await host.Api.PubSub.TopicAsync(topic)).Subscribers == 1, TimeSpan.FromSeconds(30),
            "the page subscribed");
        await PublishAsync(client, topic, 1, 5);

        host.Redis.Stop();
        var before = host.Subscribes;
        await Poll.UntilAsync(() => Task.FromResult(host.Subscribes >= before + 10), TimeSpan.FromSeconds(30),
            "the page keeps reconnecting while Redis is away");
        await host.Redis.RestartAsync();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the node serves again");
        await PublishAsync(client, topic, 6, 15);

        var result = await browser;
        Assert.False(result.GetProperty("closed").GetBoolean(), $"the EventSource gave up: {result}");
        var messages = result.GetProperty("messages").EnumerateArray().ToArray();
        Assert.Equal(Enumerable.Range(1, 15), messages.Select(m => m.GetProperty("n").GetInt32()));
        var ids = messages.Select(m => long.Parse(m.GetProperty("id").GetString()!)).ToArray();
        Assert.Equal(Enumerable.Range(0, 15).Select(i => ids[0] + i), ids); // no gap, no duplicate
        Assert.True(result.GetProperty("reconnects").GetInt32() >= 10, $"told to reconnect on every attempt: {result}");
    }
}
