using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Hornbeam.Api.Problems;
using Hornbeam.Cluster;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Hooks;

/// <summary>
/// Hook workers (GET /hooks/workers): a test plays the worker with a ClientWebSocket to node A, as a Python process would, and
/// calls its hook through A and through node B, which reaches it over RPC.
/// </summary>
public sealed class HookWorkerTests(HookWorkerTests.Pair pair) : IClassFixture<HookWorkerTests.Pair>
{
    /// <summary>Node A on real Kestrel (the worker's socket is a real one) and node B with the C# test hooks, on one prefix.</summary>
    public sealed class Pair : IAsyncLifetime
    {
        public HornbeamApiFactory A { get; private set; } = null!;
        public HornbeamApiFactory B { get; private set; } = null!;
        public HttpClient AClient { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var prefix = TestPrefix.New();
            // Pinged every 2 s, so a worker that stops answering is dropped within the test's patience (not 1 s: a busy
            // machine could delay a live worker's pong that long).
            A = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), prefix,
                new Dictionary<string, string?> { ["Hornbeam:Hooks:WorkerKeepAliveSeconds"] = "2" });
            A.UseKestrel(0);
            A.StartServer();
            AClient = A.CreateClient();
            B = await HornbeamApiFactory.StartAsync(prefix, configure: TestHookSetup.Register);
            await Poll.UntilAsync(async () => (await AClient.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
                "node A is ready");
        }

        public async Task DisposeAsync()
        {
            AClient.Dispose();
            await A.DisposeAsync();
            await B.DisposeAsync();
        }

        public Uri WorkerUri => new(new UriBuilder(AClient.BaseAddress!) { Scheme = "ws" }.Uri, "/hooks/workers");
    }

    /// <summary>A worker as a test drives it: every message it receives is queued; it answers what the test tells it to.</summary>
    private sealed class TestWorker : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly Channel<JsonElement> _inbox = Channel.CreateUnbounded<JsonElement>();
        private Task _receiving = Task.CompletedTask;

        /// <summary>When set, executes are answered with what it returns instead of being queued.</summary>
        public Func<JsonElement, object>? Answer { get; set; }

        public static async Task<TestWorker> ConnectAsync(Uri uri)
        {
            var worker = new TestWorker();
            await worker._socket.ConnectAsync(uri, CancellationToken.None);
            worker._receiving = worker.ReceiveAsync();
            var welcome = await worker.NextAsync("welcome");
            Assert.Equal(HookWorkerConnection.Window, welcome.GetProperty("window").GetInt32());
            return worker;
        }

        private async Task ReceiveAsync()
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var received = await _socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                    if (received.MessageType == WebSocketMessageType.Close) break;
                    var length = received.Count;
                    while (!received.EndOfMessage)
                    {
                        received = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                        length += received.Count;
                    }
                    var message = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
                    if (Answer is { } answer && message.GetProperty("type").GetString() == "execute")
                        await SendAsync(new { type = "result", id = message.GetProperty("id").GetString(), result = answer(message) });
                    else _inbox.Writer.TryWrite(message);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // Aborted by the test, or the server went away.
            }
            _inbox.Writer.TryComplete();
        }

        /// <summary>The next message of <paramref name="type"/>; others before it are skipped.</summary>
        public async Task<JsonElement> NextAsync(string type)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            while (true)
            {
                var message = await _inbox.Reader.ReadAsync(deadline.Token);
                if (message.GetProperty("type").GetString() == type) return message;
            }
        }

        public Task SendAsync(object message) =>
            _socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(message)), WebSocketMessageType.Text, true,
                CancellationToken.None);

        public async Task<JsonElement> RegisterAsync(string appPath)
        {
            await SendAsync(new { type = "register", app_path = appPath });
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            while (true)
            {
                var message = await _inbox.Reader.ReadAsync(deadline.Token);
                if (message.GetProperty("type").GetString() is "registered" or "refused") return message;
            }
        }

        /// <summary>Dies as a killed process does: no close frame.</summary>
        public void Abort() => _socket.Abort();

        public async ValueTask DisposeAsync()
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
            await _receiving;
            _socket.Dispose();
        }
    }

    private static string NewHook() => "worker-" + Guid.NewGuid().ToString("N")[..12];

    private async Task WaitUntilListedAsync(HttpClient client, string appPath, bool listed)
    {
        await Poll.UntilAsync(async () =>
        {
            var list = await (await client.GetAsync("/hooks")).ReadJsonAsync();
            var entry = list.GetProperty("hooks").EnumerateArray().Where(h => h.GetProperty("app_path").GetString() == appPath).ToArray();
            return listed ? entry.Length == 1 && entry[0].GetProperty("kind").GetString() == "worker" : entry.Length == 0;
        }, TimeSpan.FromSeconds(15), $"hook {appPath} {(listed ? "is" : "is no longer")} listed");
    }

    [Fact]
    public async Task AWorkersHookRunsFromEitherNodeAsExecuteStreamAndTask()
    {
        var appPath = NewHook();
        await using var worker = await TestWorker.ConnectAsync(pair.WorkerUri);
        Assert.Equal("registered", (await worker.RegisterAsync(appPath)).GetProperty("type").GetString());
        var b = pair.B.CreateClient();
        await WaitUntilListedAsync(b, appPath, listed: true);

        // Through B, over RPC to A, then the socket: the worker answers with what it got.
        var call = Task.Run(() => b.PostAsync($"/hooks/{appPath}/encode", Http.Json("""{"args": ["hi"], "kwargs": {"n": 2}}""")));
        var execute = await worker.NextAsync("execute");
        Assert.Equal(appPath, execute.GetProperty("app_path").GetString());
        Assert.Equal("encode", execute.GetProperty("action").GetString());
        Assert.Equal("hi", execute.GetProperty("args")[0].GetString());
        Assert.Equal(2, execute.GetProperty("kwargs").GetProperty("n").GetInt32());
        await worker.SendAsync(new { type = "result", id = execute.GetProperty("id").GetString(), result = new[] { 1.5, 2.5 } });
        var answer = await (await call).ReadJsonAsync();
        Assert.Equal(2.5, answer.GetProperty("result")[1].GetDouble());

        // A handler's failure keeps its kind and message; through A itself, from C#.
        var hooks = pair.A.Services.GetRequiredService<IHooks>();
        var failing = hooks.ExecuteAsync(appPath, "fail");
        var failed = await worker.NextAsync("execute");
        await worker.SendAsync(new
        {
            type = "error",
            id = failed.GetProperty("id").GetString(),
            error = new { type = "urn:hornbeam:problem:handler-failed", detail = "ValueError: no such thing" },
        });
        var error = await Assert.ThrowsAsync<HornbeamException>(() => failing);
        Assert.Equal(HornbeamError.HandlerFailed, error.Error);
        Assert.Contains("no such thing", error.Message);

        // A stream through B: 100 chunks, more than one window, so credit has to come back.
        var stream = Task.Run(async () =>
        {
            var response = await b.PostAsync($"/hooks/{appPath}/words/stream", null);
            Assert.Equal(200, (int)response.StatusCode);
            var items = new List<SseItem<string>>();
            await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync()) items.Add(item);
            return items;
        });
        var streaming = await worker.NextAsync("stream");
        var id = streaming.GetProperty("id").GetString();
        var credit = streaming.GetProperty("window").GetInt32();
        for (var i = 0; i < 100; i++)
        {
            while (credit == 0) credit += (await worker.NextAsync("credit")).GetProperty("chunks").GetInt32();
            await worker.SendAsync(new { type = "chunk", id, data = $"w{i}" });
            credit--;
        }
        await worker.SendAsync(new { type = "done", id });
        var events = await stream;
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"\"w{i}\""), events.Where(e => e.EventType == "chunk").Select(e => e.Data));
        Assert.Equal("done", events[^1].EventType);

        // A task started through B runs on A, the node holding the socket, and B answers for it.
        var started = await (await b.PostAsync($"/hooks/{appPath}/train/async", Http.Json("""{"args": ["d1"]}"""))).ReadJsonAsync();
        var taskId = started.GetProperty("task_id").GetString();
        var training = await worker.NextAsync("execute");
        var running = await (await b.GetAsync($"/tasks/{taskId}?timeout_ms=0")).ReadJsonAsync();
        Assert.Equal(pair.A.Services.GetRequiredService<NodeIdentity>().Name, running.GetProperty("node").GetString());
        await worker.SendAsync(new { type = "result", id = training.GetProperty("id").GetString(), result = "trained" });
        var done = await (await b.GetAsync($"/tasks/{taskId}?timeout_ms=10000")).ReadJsonAsync();
        Assert.Equal("trained", done.GetProperty("result").GetString());
    }

    [Fact]
    public async Task AWorkerThatDiesMidTaskFailsTheTaskAndItsHookLeavesEveryNode()
    {
        var appPath = NewHook();
        var worker = await TestWorker.ConnectAsync(pair.WorkerUri);
        Assert.Equal("registered", (await worker.RegisterAsync(appPath)).GetProperty("type").GetString());
        var b = pair.B.CreateClient();
        await WaitUntilListedAsync(b, appPath, listed: true);

        var started = await (await b.PostAsync($"/hooks/{appPath}/train/async", null)).ReadJsonAsync();
        var taskId = started.GetProperty("task_id").GetString();
        await worker.NextAsync("execute");
        var inFlight = Task.Run(() => b.PostAsync($"/hooks/{appPath}/encode", null));
        await worker.NextAsync("execute");
        worker.Abort();
        await worker.DisposeAsync();

        var failed = await (await b.GetAsync($"/tasks/{taskId}?timeout_ms=10000")).AssertProblemAsync(502, ProblemTypes.BadGateway);
        Assert.Equal("failed", failed.GetProperty("task_status").GetString());
        Assert.Contains("disconnected", failed.GetProperty("detail").GetString());
        await (await inFlight).AssertProblemAsync(502, ProblemTypes.BadGateway);
        await WaitUntilListedAsync(b, appPath, listed: false);
        await (await b.PostAsync($"/hooks/{appPath}/encode", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await pair.AClient.PostAsync($"/hooks/{appPath}/encode", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task ACallerThatLeavesAStreamThroughAnotherNodeCancelsItOnTheWorker()
    {
        var appPath = NewHook();
        await using var worker = await TestWorker.ConnectAsync(pair.WorkerUri);
        await worker.RegisterAsync(appPath);
        var b = pair.B.CreateClient();
        await WaitUntilListedAsync(b, appPath, listed: true);

        using var request = new HttpRequestMessage(HttpMethod.Post, $"/hooks/{appPath}/count/stream");
        var responding = b.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var streaming = await worker.NextAsync("stream");
        var id = streaming.GetProperty("id").GetString();
        await worker.SendAsync(new { type = "chunk", id, data = 0 });
        using (var response = await responding)
        {
            var events = SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync().GetAsyncEnumerator();
            Assert.True(await events.MoveNextAsync());
            Assert.Equal("0", events.Current.Data);
        }
        Assert.Equal(id, (await worker.NextAsync("cancel")).GetProperty("id").GetString());
    }

    [Fact]
    public async Task AWorkerThatStopsAnsweringPingsIsDroppedAndItsHookLeaves()
    {
        var appPath = NewHook();
        // A bare socket nobody reads after the registration: its pongs never go out, as in a frozen process.
        using var frozen = new ClientWebSocket();
        await frozen.ConnectAsync(pair.WorkerUri, CancellationToken.None);
        await frozen.SendAsync(Encoding.UTF8.GetBytes($$"""{"type":"register","app_path":"{{appPath}}"}"""), WebSocketMessageType.Text,
            true, CancellationToken.None);
        var buffer = new byte[4096];
        for (var registered = false; !registered;)
        {
            var received = await frozen.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
            registered = Encoding.UTF8.GetString(buffer, 0, received.Count).Contains("\"registered\"");
        }
        var b = pair.B.CreateClient();
        await WaitUntilListedAsync(b, appPath, listed: true);

        await WaitUntilListedAsync(b, appPath, listed: false);
        await (await b.PostAsync($"/hooks/{appPath}/encode", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task TwoWorkersShareCallsAndTheHookStaysWhileOneIsLeft()
    {
        var appPath = NewHook();
        await using var first = await TestWorker.ConnectAsync(pair.WorkerUri);
        await using var second = await TestWorker.ConnectAsync(pair.WorkerUri);
        await first.RegisterAsync(appPath);
        await second.RegisterAsync(appPath);
        var hooks = pair.A.Services.GetRequiredService<IHooks>();

        // Each worker answers with its own name; within a few dozen calls both have answered.
        first.Answer = _ => "first";
        second.Answer = _ => "second";
        var answered = new HashSet<string>();
        for (var i = 0; i < 40 && answered.Count < 2; i++) answered.Add((await hooks.ExecuteAsync(appPath, "who")).GetString()!);
        Assert.Equal(["first", "second"], answered.Order());

        await first.SendAsync(new { type = "unregister", app_path = appPath });
        await first.NextAsync("unregistered");
        Assert.Equal("second", (await hooks.ExecuteAsync(appPath, "who")).GetString());
    }

    [Fact]
    public async Task AWorkerCannotShadowACSharpHookOrServeABadName()
    {
        var b = pair.B.CreateClient();
        await Poll.UntilAsync(async () => (await (await pair.AClient.GetAsync("/hooks")).ReadJsonAsync()).GetProperty("hooks")
            .EnumerateArray().Any(h => h.GetProperty("app_path").GetString() == "echo"), TimeSpan.FromSeconds(15), "A sees B's hooks");
        await using var worker = await TestWorker.ConnectAsync(pair.WorkerUri);

        var refused = await worker.RegisterAsync("echo");
        Assert.Equal("refused", refused.GetProperty("type").GetString());
        Assert.Equal(409, refused.GetProperty("error").GetProperty("status").GetInt32());
        Assert.Contains("C# hook", refused.GetProperty("error").GetProperty("detail").GetString());
        var bad = await worker.RegisterAsync("a/b");
        Assert.Equal(ProblemTypes.InvalidInput, bad.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("args", (await (await b.PostAsync("/hooks/echo/args", null)).ReadJsonAsync())
            .GetProperty("result").GetProperty("action").GetString());
    }

    [Fact]
    public async Task TheWorkerRouteAnswersAPlainRequestWithAProblem() =>
        await (await pair.AClient.GetAsync("/hooks/workers")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
}
