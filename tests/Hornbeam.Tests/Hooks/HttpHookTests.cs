using System.Diagnostics;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hornbeam.Tests.Hooks;

/// <summary>Hooks registered over REST with a URL, served by a small HTTP server the test starts on loopback.</summary>
[Trait("Redis", "Cluster")]
public sealed class HttpHookTests(HttpHookTests.Hosts hosts) : IClassFixture<HttpHookTests.Hosts>
{
    /// <summary>
    /// The loopback model server and the hosts the class shares: two replicas on one prefix that allow the loopback
    /// endpoints' ports (A also has the in-code test hooks), and one with a small response limit.
    /// </summary>
    public sealed class Hosts : IAsyncLifetime
    {
        private WebApplication _server = null!;
        public string Base { get; private set; } = null!;

        /// <summary>The allow-list of the hosts: each entry a host with its port (a bare 127.0.0.1 would allow port 80 only).</summary>
        public Dictionary<string, string?> Allowed { get; private set; } = null!;

        /// <summary>A listed port nothing listens on.</summary>
        public int GonePort { get; } = LocalRedisProcess.FreePort();

        /// <summary>Endpoints of their own (so their circuits are their own) for the timeout and the circuit test.</summary>
        public FlakyEndpoint Hanging { get; private set; } = null!;

        public FlakyEndpoint Recovering { get; private set; } = null!;
        public HornbeamApiFactory A { get; private set; } = null!;
        public HornbeamApiFactory B { get; private set; } = null!;
        public HornbeamApiFactory Limited { get; private set; } = null!;

        /// <summary>A host with a 1 s hook timeout and a circuit that opens after two failures and stays open 2 s.</summary>
        public HornbeamApiFactory Brittle { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            _server = builder.Build();
            _server.MapPost("/ml/{action}", async (string action, HttpRequest request, HttpResponse response) =>
            {
                var call = await JsonDocument.ParseAsync(request.Body);
                var args = call.RootElement.GetProperty("args");
                switch (action)
                {
                    case "sum":
                        var sum = args.EnumerateArray().Sum(a => a.GetInt64()) +
                            (call.RootElement.GetProperty("kwargs").TryGetProperty("plus", out var p) ? p.GetInt64() : 0);
                        await response.WriteAsJsonAsync(new { sum });
                        break;
                    case "tokens":
                        response.ContentType = "text/event-stream";
                        for (var i = 0; i < args[0].GetInt32(); i++) await response.WriteAsync($"event: chunk\ndata: \"w{i}\"\n\n");
                        await response.WriteAsync("event: done\ndata: {}\n\n");
                        break;
                    case "lines":
                        response.ContentType = "application/x-ndjson";
                        await response.WriteAsync("1\n{\"two\":2}\n\"three\"\n");
                        break;
                    case "overlong":
                        // A first line, then one line past the limit.
                        response.ContentType = "application/x-ndjson";
                        await response.WriteAsync("1\n\"" + new string('x', 64 * 1024) + "\"\n");
                        break;
                    case "fat":
                        // A first event, then one event of many short data lines, past the limit in all.
                        response.ContentType = "text/event-stream";
                        await response.WriteAsync("data: \"w0\"\n\n");
                        for (var i = 0; i < 100; i++) await response.WriteAsync($"data: \"{new string('y', 90)}\"\n");
                        await response.WriteAsync("\n");
                        break;
                    case "many":
                        // Far more than the limit in all, in small events (CR LF line ends).
                        response.ContentType = "text/event-stream";
                        for (var i = 0; i < 400; i++)
                            await response.WriteAsync($"data: {{\"n\":{i},\"pad\":\"{new string('z', 40)}\"}}\r\n\r\n");
                        break;
                    case "huge":
                        response.ContentType = "application/json";
                        await response.WriteAsync("\"" + new string('x', 64 * 1024) + "\"");
                        break;
                    case "broken":
                        response.StatusCode = 500;
                        await response.WriteAsJsonAsync(new { error = "model not loaded" });
                        break;
                    default:
                        response.StatusCode = 404;
                        break;
                }
            });
            await _server.StartAsync();
            Base = _server.Urls.First() + "/ml";
            Hanging = await FlakyEndpoint.StartAsync(hanging: true);
            Recovering = await FlakyEndpoint.StartAsync(hanging: true);
            Allowed = new[]
                {
                    new Uri(Base).Authority, $"127.0.0.1:{GonePort}", new Uri(Hanging.Base).Authority, new Uri(Recovering.Base).Authority,
                }
                .Select((entry, i) => KeyValuePair.Create($"Hornbeam:Webhooks:AllowedHosts:{i}", (string?)entry)).ToDictionary();
            var prefix = TestPrefix.New();
            A = await HornbeamApiFactory.StartAsync(prefix, Allowed, TestHookSetup.Register);
            B = await HornbeamApiFactory.StartAsync(prefix, Allowed);
            Limited = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>(Allowed)
            {
                ["Hornbeam:Webhooks:MaxResponseBytes"] = "4096",
            });
            Brittle = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>(Allowed)
            {
                ["Hornbeam:Hooks:HttpTimeoutSeconds"] = "1",
                ["Hornbeam:Webhooks:CircuitMinimumThroughput"] = "2",
                ["Hornbeam:Webhooks:CircuitBreakDuration"] = "00:00:02",
            });
        }

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Limited.DisposeAsync();
            await Brittle.DisposeAsync();
            await Hanging.DisposeAsync();
            await Recovering.DisposeAsync();
            await _server.DisposeAsync();
        }
    }

    private readonly string _base = hosts.Base;

    // The hosts are shared, so each test registers its hooks under names of its own.
    private readonly string _ml = $"ml{Guid.NewGuid():N}";

    [Fact]
    public async Task AnHttpHookRunsFromAnyReplicaAndStreamsSseAndNdjson()
    {
        Assert.Equal(HttpStatusCode.NoContent,
            (await hosts.A.CreateClient().PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}"}"""))).StatusCode);

        var client = hosts.B.CreateClient();
        var result = await (await client.PostAsync($"/hooks/{_ml}/sum", Http.Json("""{"args": [1, 2], "kwargs": {"plus": 10}}""")))
            .ReadJsonAsync();
        Assert.Equal(13, result.GetProperty("result").GetProperty("sum").GetInt64());

        var tokens = await HookStreamTests.ReadEventsAsync(
            await client.PostAsync($"/hooks/{_ml}/tokens/stream", Http.Json("""{"args": [3]}""")));
        Assert.Equal(["\"w0\"", "\"w1\"", "\"w2\""], tokens.Where(e => e.EventType == "chunk").Select(e => e.Data));
        Assert.Equal("done", tokens[^1].EventType);
        var lines = await HookStreamTests.ReadEventsAsync(await client.PostAsync($"/hooks/{_ml}/lines/stream", null));
        Assert.Equal(["1", "{\"two\":2}", "\"three\""], lines.Where(e => e.EventType == "chunk").Select(e => e.Data));

        var list = await (await client.GetAsync("/hooks")).ReadJsonAsync();
        var ml = list.GetProperty("hooks").EnumerateArray().Single(h => h.GetProperty("app_path").GetString() == _ml);
        Assert.Equal("http", ml.GetProperty("kind").GetString());
        Assert.Equal(_base, ml.GetProperty("url").GetString());
    }

    [Fact]
    public async Task FailuresOfTheEndpointAreClearProblems()
    {
        var client = hosts.A.CreateClient();
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}"}"""));
        var broken = await (await client.PostAsync($"/hooks/{_ml}/broken", null)).AssertProblemAsync(502, ProblemTypes.BadGateway);
        Assert.Contains("model not loaded", broken.GetProperty("detail").GetString());
        await (await client.PostAsync($"/hooks/{_ml}/nope", null)).AssertProblemAsync(404, ProblemTypes.NotFound);

        await client.PutAsync($"/hooks/{_ml}gone", Http.Json($$"""{"url": "http://127.0.0.1:{{hosts.GonePort}}/x"}"""));
        await (await client.PostAsync($"/hooks/{_ml}gone/a", null)).AssertProblemAsync(502, ProblemTypes.BadGateway);
    }

    [Fact]
    public async Task AnAnswerOverTheResponseLimitIsRefusedWith502()
    {
        var client = hosts.Limited.CreateClient();
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}"}"""));
        var problem = await (await client.PostAsync($"/hooks/{_ml}/huge", null)).AssertProblemAsync(502, ProblemTypes.BadGateway);
        Assert.Contains("MaxResponseBytes", problem.GetProperty("detail").GetString());
        Assert.Equal(13, (await (await client.PostAsync($"/hooks/{_ml}/sum", Http.Json("""{"args": [6, 7]}"""))).ReadJsonAsync())
            .GetProperty("result").GetProperty("sum").GetInt64());
    }

    [Fact]
    public async Task AStreamMayRunPastTheResponseLimitButNoOneLineOrEventMay()
    {
        var client = hosts.Limited.CreateClient();
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}"}"""));

        var many = await HookStreamTests.ReadEventsAsync(await client.PostAsync($"/hooks/{_ml}/many/stream", null));
        Assert.Equal(400, many.Count(e => e.EventType == "chunk"));
        Assert.Equal("done", many[^1].EventType);

        foreach (var action in new[] { "overlong", "fat" })
        {
            var events = await HookStreamTests.ReadEventsAsync(await client.PostAsync($"/hooks/{_ml}/{action}/stream", null));
            Assert.Equal(["chunk", "error"], events.Select(e => e.EventType));
            var error = JsonDocument.Parse(events[^1].Data).RootElement;
            Assert.Equal(ProblemTypes.BadGateway, error.GetProperty("type").GetString());
            Assert.Contains("MaxResponseBytes", error.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task RegisteringAgainReplacesAndDeletingUnregistersAndIsIdempotent()
    {
        var client = hosts.A.CreateClient();
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}/elsewhere"}"""));
        await (await client.PostAsync($"/hooks/{_ml}/sum", Http.Json("""{"args": [1]}"""))).AssertProblemAsync(404, ProblemTypes.NotFound);
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}"}"""));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/hooks/{_ml}/sum", Http.Json("""{"args": [1]}"""))).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/hooks/{_ml}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/hooks/{_ml}")).StatusCode);
        await (await client.PostAsync($"/hooks/{_ml}/sum", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task HostsOffTheAllowListAndBadUrlsAreRefused()
    {
        // Without an allow-list: this test alone needs a host with none.
        await using var off = await HornbeamApiFactory.StartAsync();
        await (await off.CreateClient().PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{_base}}"}""")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);

        var client = hosts.A.CreateClient();
        await (await client.PutAsync($"/hooks/{_ml}", Http.Json("""{"url": "http://example.com/ml"}""")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        // The listed host on a port the list does not name: refused, as for HTTP functions.
        var port = await (await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "http://127.0.0.1:1/ml"}""")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("is not allowed by Hornbeam:Webhooks:AllowedHosts", port.GetProperty("detail").GetString());
        var withCredentials = _base.Replace("://", "://user:s3cret@");
        var credentials = await (await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{withCredentials}}"}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.DoesNotContain("s3cret", credentials.GetProperty("detail").GetString());
        foreach (var url in new[] { _base + "?x=1", _base + "#x" })
            await (await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{url}}"}""")))
                .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PutAsync($"/hooks/{_ml}", Http.Json("""{"url": "ftp://127.0.0.1/ml"}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PutAsync($"/hooks/{_ml}", Http.Json("{}"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PutAsync("/hooks/echo", Http.Json($$"""{"url": "{{_base}}"}""")))
            .AssertProblemAsync(409, ProblemTypes.Conflict);
        var hooks = (await (await client.GetAsync("/hooks")).ReadJsonAsync()).GetProperty("hooks").EnumerateArray();
        Assert.DoesNotContain(hooks, h => h.GetProperty("app_path").GetString() == _ml);
    }

    [Fact]
    public async Task ATimedOutHookCallIsSentOnceAndAnswers504()
    {
        var endpoint = hosts.Hanging;
        var client = hosts.Brittle.CreateClient();
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{endpoint.Base}}"}"""));

        var problem = await (await client.PostAsync($"/hooks/{_ml}/work", null)).AssertProblemAsync(504, ProblemTypes.Timeout);
        Assert.Contains("did not answer within 1000 ms", problem.GetProperty("detail").GetString());
        // The call gave up after its one attempt: a retry would have been sent before the 504.
        await Poll.UntilAsync(() => Task.FromResult(endpoint.Calls > 0), because: "the endpoint saw the call");
        Assert.Equal(1, endpoint.Calls);
    }

    [Fact]
    public async Task AHostThatKeepsFailingOpensItsCircuitWhichAnswersFastAndClosesOnceTheHostRecovers()
    {
        var endpoint = hosts.Recovering;
        var client = hosts.Brittle.CreateClient();
        await client.PutAsync($"/hooks/{_ml}", Http.Json($$"""{"url": "{{endpoint.Base}}"}"""));

        // Two timeouts open the circuit (ratio 1 over the minimum throughput of two).
        await (await client.PostAsync($"/hooks/{_ml}/work", null)).AssertProblemAsync(504, ProblemTypes.Timeout);
        await (await client.PostAsync($"/hooks/{_ml}/work", null)).AssertProblemAsync(504, ProblemTypes.Timeout);
        var sent = endpoint.Calls;
        var clock = Stopwatch.StartNew();
        var open = await (await client.PostAsync($"/hooks/{_ml}/work", null)).AssertProblemAsync(502, ProblemTypes.BadGateway);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"an open circuit answered in {clock.Elapsed}, not before the 1 s timeout");
        Assert.Contains("circuit open", open.GetProperty("detail").GetString());
        Assert.Equal(sent, endpoint.Calls);

        // Once the break is over, a trial call reaches the recovered host and closes the circuit.
        endpoint.Hanging = false;
        await Poll.UntilAsync(async () => (await client.PostAsync($"/hooks/{_ml}/work", null)).StatusCode == HttpStatusCode.OK,
            because: "the circuit closed once the host answered again");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/hooks/{_ml}/work", null)).StatusCode);
        Assert.True(endpoint.Calls > sent);
    }

    /// <summary>A hook endpoint on its own port (so its circuit is its own) that hangs or answers, and counts the calls it gets.</summary>
    public sealed class FlakyEndpoint : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _calls;
        private volatile bool _hanging;

        private FlakyEndpoint(WebApplication app, bool hanging)
        {
            _app = app;
            _hanging = hanging;
        }

        public string Base => _app.Urls.First() + "/h";

        public int Calls => Volatile.Read(ref _calls);

        public bool Hanging
        {
            get => _hanging;
            set => _hanging = value;
        }

        public static async Task<FlakyEndpoint> StartAsync(bool hanging)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var endpoint = new FlakyEndpoint(app, hanging);
            app.MapPost("/h/{action}", async (string action, HttpResponse response, CancellationToken ct) =>
            {
                Interlocked.Increment(ref endpoint._calls);
                if (endpoint.Hanging) await Task.Delay(TimeSpan.FromSeconds(30), ct);
                await response.WriteAsJsonAsync(new { ok = action }, ct);
            });
            await app.StartAsync();
            return endpoint;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
