using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Cluster;
using Hornbeam.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hornbeam.Tests.Functions;

/// <summary>Registered functions: C# ones run here or on the node that has them; HTTP ones at their endpoint.</summary>
[Trait("Redis", "Cluster")]
public sealed class FunctionsTests
{
    private static Dictionary<string, string?> Allow(params string[] entries) =>
        entries.Select((entry, i) => KeyValuePair.Create($"Hornbeam:Webhooks:AllowedHosts:{i}", (string?)entry)).ToDictionary();

    private static StringContent UrlBody(string url) => Http.Json($"{{\"url\": \"{url}\"}}");

    private static Action<HornbeamBuilder> Arithmetic(StrongBox<long>? hits = null) => b => b
        .AddFunction("add", (long a, long b) => a + b)
        .AddFunction("greet", async (string name, CancellationToken ct) => { await Task.Delay(1, ct); return $"hello {name}"; })
        .AddFunction("scale", (double[] values, double by = 2) => values.Select(v => v * by).ToArray())
        .AddFunction("fail", string () => throw new InvalidOperationException("the model is not loaded"))
        .AddFunction("bump", (long by) => { Interlocked.Add(ref (hits ?? new StrongBox<long>()).Value, by); });

    [Fact]
    public async Task ALocalFunctionIsCalledWithPositionalArguments()
    {
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "local@fn", Arithmetic());
        var client = api.CreateClient();
        Assert.Equal(5, (await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [2, 3]}"))).ReadJsonAsync())
            .GetProperty("result").GetInt64());
        Assert.Equal("hello Ada", (await (await client.PostAsync("/functions/greet/call", Http.Json("{\"args\": [\"Ada\"]}")))
            .ReadJsonAsync()).GetProperty("result").GetString());
        var scaled = (await (await client.PostAsync("/functions/scale/call", Http.Json("{\"args\": [[1, 2.5]]}"))).ReadJsonAsync())
            .GetProperty("result");
        Assert.Equal([2.0, 5.0], scaled.EnumerateArray().Select(v => v.GetDouble()));
        var tripled = (await (await client.PostAsync("/functions/scale/call", Http.Json("{\"args\": [[1], 3]}"))).ReadJsonAsync())
            .GetProperty("result");
        Assert.Equal(3.0, tripled[0].GetDouble());
    }

    [Fact]
    public async Task WrongArgumentsGet400NamingTheFunctionAndTheParameter()
    {
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "args@fn", Arithmetic());
        var client = api.CreateClient();
        var type = await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [1, \"two\"]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("'add'", type.GetProperty("detail").GetString());
        Assert.Contains("'b'", type.GetProperty("detail").GetString());
        var count = await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [1]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("'add' takes 2 argument(s) (a, b); 1 given", count.GetProperty("detail").GetString());
        await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [1, 2.5]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [1, null]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [1, 2], \"timeout_ms\": 0}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task AFunctionThatThrowsGetsAHandlerFailedProblemWithItsMessageAndUnknownNamesGet404()
    {
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "fail@fn", Arithmetic());
        var client = api.CreateClient();
        var failed = await (await client.PostAsync("/functions/fail/call", null)).AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        Assert.Equal("function 'fail' failed: the model is not loaded", failed.GetProperty("detail").GetString());
        await (await client.PostAsync("/functions/nope/call", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync("/functions/nope/cast", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task AFunctionOnlyOneNodeHasIsForwardedToItFromAnyNode()
    {
        var prefix = TestPrefix.New();
        var hits = new StrongBox<long>();
        await using var plain = await ClusterNodes.StartAsync(prefix, "plain@fn");
        await using var gpu = await ClusterNodes.StartAsync(prefix, "gpu@fn",
            b => Arithmetic(hits)(b.AddFunction("where", () => "gpu@fn")));
        var client = plain.CreateClient();
        await ClusterNodes.UntilSeesAsync(client, "gpu@fn");

        Assert.Equal("gpu@fn", (await (await client.PostAsync("/functions/where/call", null)).ReadJsonAsync())
            .GetProperty("result").GetString());
        Assert.Equal(42, (await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [40, 2]}"))).ReadJsonAsync())
            .GetProperty("result").GetInt64());
        var failed = await (await client.PostAsync("/functions/fail/call", null)).AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        Assert.Contains("the model is not loaded", failed.GetProperty("detail").GetString());
        await (await client.PostAsync("/functions/add/call", Http.Json("{\"args\": [\"x\", 2]}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/functions/bump/cast", Http.Json("{\"args\": [3]}"))).StatusCode);
        await Poll.UntilAsync(() => Task.FromResult(Interlocked.Read(ref hits.Value) == 3),
            because: "the forwarded cast ran on the gpu node");

        var list = await (await client.GetAsync("/functions")).ReadJsonAsync();
        var where = list.GetProperty("functions").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "where");
        Assert.Equal("csharp", where.GetProperty("kind").GetString());
        Assert.Equal(["gpu@fn"], where.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public async Task AnHttpFunctionRegisteredOnOneNodeIsCalledFromAnother()
    {
        await using var endpoint = await TestEndpoint.StartAsync();
        var prefix = TestPrefix.New();
        var allow = Allow(endpoint.Authority);
        await using var a = await ClusterNodes.StartAsync(prefix, "a@http", more: allow);
        await using var b = await ClusterNodes.StartAsync(prefix, "b@http", more: allow);

        var put = await a.CreateClient().PutAsync("/functions/sum", Http.Json($"{{\"url\": \"{endpoint.Url}/sum\"}}"));
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        var client = b.CreateClient();
        var sum = await (await client.PostAsync("/functions/sum/call", Http.Json("{\"args\": [1, 2, 39]}"))).ReadJsonAsync();
        Assert.Equal(42, sum.GetProperty("result").GetProperty("sum").GetInt64());
        var list = await (await client.GetAsync("/functions")).ReadJsonAsync();
        Assert.Contains(list.GetProperty("functions").EnumerateArray(),
            f => f.GetProperty("kind").GetString() == "http" && f.GetProperty("url").GetString() == $"{endpoint.Url}/sum");

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/functions/sum/cast", Http.Json("{\"args\": [5]}"))).StatusCode);
        await Poll.UntilAsync(() => Task.FromResult(endpoint.Calls >= 2), because: "the cast reached the endpoint");

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/functions/sum")).StatusCode);
        await (await client.PostAsync("/functions/sum/call", Http.Json("{\"args\": [1]}"))).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.DeleteAsync("/functions/sum")).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task AFailingSlowOrNonJsonEndpointGets502Or504()
    {
        await using var endpoint = await TestEndpoint.StartAsync();
        var allow = Allow(endpoint.Authority);
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "a@bad", more: allow);
        var client = api.CreateClient();
        foreach (var path in new[] { "fail", "slow", "text" })
            Assert.Equal(HttpStatusCode.NoContent,
                (await client.PutAsync($"/functions/{path}", Http.Json($"{{\"url\": \"{endpoint.Url}/{path}\"}}"))).StatusCode);

        var failed = await (await client.PostAsync("/functions/fail/call", null)).AssertProblemAsync(502, ProblemTypes.BadGateway);
        Assert.Contains("500", failed.GetProperty("detail").GetString());
        await (await client.PostAsync("/functions/text/call", null)).AssertProblemAsync(502, ProblemTypes.BadGateway);
        var clock = Stopwatch.StartNew();
        await (await client.PostAsync("/functions/slow/call", Http.Json("{\"timeout_ms\": 300}")))
            .AssertProblemAsync(504, ProblemTypes.Timeout);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the 504 took {clock.Elapsed}");
    }

    [Fact]
    public async Task ATimedOutHttpFunctionCallIsSentOnceNotRetried()
    {
        await using var endpoint = await TestEndpoint.StartAsync();
        var allow = Allow(endpoint.Authority);
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "a@once", more: allow);
        var client = api.CreateClient();
        var put = await client.PutAsync("/functions/slow", Http.Json($"{{\"url\": \"{endpoint.Url}/slow\"}}"));
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);

        var call = await client.PostAsync("/functions/slow/call", Http.Json("{\"timeout_ms\": 300}"));
        var problem = await call.AssertProblemAsync(504, ProblemTypes.Timeout);
        Assert.Contains("did not answer within 300 ms", problem.GetProperty("detail").GetString());
        // A POST may apply something, so it is never retried: a retry would have been sent before the 504.
        await Poll.UntilAsync(() => Task.FromResult(endpoint.SlowCalls > 0), because: "the endpoint saw the call");
        Assert.Equal(1, endpoint.SlowCalls);
    }

    [Fact]
    public async Task OnlyAllowListedHostsMayBeRegisteredAndAnEmptyListTurnsTheFeatureOff()
    {
        var allow = Allow("127.0.0.1:1");
        await using var on = await ClusterNodes.StartAsync(TestPrefix.New(), "on@allow", Arithmetic(), allow);
        var client = on.CreateClient();
        await (await client.PutAsync("/functions/x", Http.Json("{\"url\": \"http://example.com/x\"}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        await (await client.PutAsync("/functions/x", Http.Json("{\"url\": \"ftp://127.0.0.1/x\"}")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PutAsync("/functions/x", Http.Json("{}"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PutAsync("/functions/add", Http.Json("{\"url\": \"http://127.0.0.1:1/add\"}")))
            .AssertProblemAsync(409, ProblemTypes.Conflict);

        await using var off = await ClusterNodes.StartAsync(TestPrefix.New(), "off@allow");
        var refused = await (await off.CreateClient().PutAsync("/functions/x", Http.Json("{\"url\": \"http://127.0.0.1:1/x\"}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("AllowedHosts", refused.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnAllowedHostOnAPortTheListDoesNotNameIsRefusedWith403AndNothingIsSent()
    {
        await using var endpoint = await TestEndpoint.StartAsync();
        var prefix = TestPrefix.New();
        // A bare host allows only the scheme's default port: not the endpoint's, nor Redis's.
        await using var bare = await ClusterNodes.StartAsync(prefix, "bare@port", more: Allow("127.0.0.1"));
        await using var listed = await ClusterNodes.StartAsync(prefix, "listed@port", more: Allow(endpoint.Authority));
        var client = bare.CreateClient();
        var redis = new Uri("redis://" + (await RedisServer.ConnectionStringAsync()).Split(',')[0]);
        await (await client.PutAsync("/functions/x", Http.Json($"{{\"url\": \"http://127.0.0.1:{redis.Port}/\"}}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        var refused = await (await client.PutAsync("/functions/sum", Http.Json($"{{\"url\": \"{endpoint.Url}/sum\"}}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains($"http://{endpoint.Authority} is not allowed", refused.GetProperty("detail").GetString());

        // Registered where the port is listed, the function is still refused, call and cast, where it is not.
        Assert.Equal(HttpStatusCode.NoContent,
            (await listed.CreateClient().PutAsync("/functions/sum", Http.Json($"{{\"url\": \"{endpoint.Url}/sum\"}}"))).StatusCode);
        await (await client.PostAsync("/functions/sum/call", Http.Json("{\"args\": [1]}"))).AssertProblemAsync(403, ProblemTypes.Forbidden);
        await (await client.PostAsync("/functions/sum/cast", Http.Json("{\"args\": [1]}"))).AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Equal(0, endpoint.Calls);
        var call = await listed.CreateClient().PostAsync("/functions/sum/call", Http.Json("{\"args\": [1]}"));
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal(1, endpoint.Calls);
    }

    [Fact]
    public async Task AUrlWithCredentialsOrAFragmentIsRefusedWith400WithoutEchoingThePassword()
    {
        await using var endpoint = await TestEndpoint.StartAsync();
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "a@userinfo", more: Allow(endpoint.Authority));
        var client = api.CreateClient();
        var refused = await (await client.PutAsync("/functions/sum", UrlBody($"http://user:s3cret@{endpoint.Authority}/sum")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("credentials", refused.GetProperty("detail").GetString());
        Assert.DoesNotContain("s3cret", refused.GetProperty("detail").GetString());
        await (await client.PutAsync("/functions/sum", UrlBody($"{endpoint.Url}/sum#part")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync("/functions/sum/call", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task AHostNameIsCheckedOnTheAddressItResolvesToAndThatAddressIsTheOneConnectedTo()
    {
        // The endpoint listens on 127.0.0.1 only; localhost also resolves to ::1, which the address entry does not allow.
        await using var endpoint = await TestEndpoint.StartAsync();
        var prefix = TestPrefix.New();
        await using var byName = await ClusterNodes.StartAsync(prefix, "name@resolve", more: Allow($"localhost:{endpoint.Port}"));
        await using var byAddress = await ClusterNodes.StartAsync(prefix, "address@resolve", more: Allow($"127.0.0.1:{endpoint.Port}"));
        await using var elsewhere = await ClusterNodes.StartAsync(prefix, "elsewhere@resolve", more: Allow($"127.0.0.2:{endpoint.Port}"));
        var url = $"http://localhost:{endpoint.Port}/sum";

        Assert.Equal(HttpStatusCode.NoContent, (await byName.CreateClient().PutAsync("/functions/local", UrlBody(url))).StatusCode);
        var sum = await (await byName.CreateClient().PostAsync("/functions/local/call", Http.Json("{\"args\": [2, 3]}"))).ReadJsonAsync();
        Assert.Equal(5, sum.GetProperty("result").GetProperty("sum").GetInt64());
        Assert.Equal(IPAddress.Loopback, endpoint.LastLocalAddress);

        Assert.Equal(HttpStatusCode.NoContent, (await byAddress.CreateClient().PutAsync("/functions/local", UrlBody(url))).StatusCode);
        var call = await byAddress.CreateClient().PostAsync("/functions/local/call", Http.Json("{\"args\": [1]}"));
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal(2, endpoint.Calls);

        // By address only, and localhost is not 127.0.0.2: refused when registered, and at connect when called.
        var refused = await (await elsewhere.CreateClient().PutAsync("/functions/local", UrlBody(url)))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("resolves to", refused.GetProperty("detail").GetString());
        var notCalled = await (await elsewhere.CreateClient().PostAsync("/functions/local/call", Http.Json("{\"args\": [1]}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("was not called", notCalled.GetProperty("detail").GetString());
        Assert.Equal(2, endpoint.Calls);
    }

    [Fact]
    public async Task CallingNeedsTheInvokeScopeAndRegisteringTheAdminScope()
    {
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "scoped@fn", Arithmetic(), new Dictionary<string, string?>
        {
            ["Hornbeam:Auth:Enabled"] = "true",
            ["Hornbeam:Auth:Keys:0:Key"] = "reader-key",
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
            ["Hornbeam:Auth:Keys:1:Key"] = "invoker-key",
            ["Hornbeam:Auth:Keys:1:Scopes:0"] = "invoke",
            ["Hornbeam:Webhooks:AllowedHosts:0"] = "127.0.0.1",
        });
        var reader = api.CreateClient();
        reader.DefaultRequestHeaders.Add("X-Api-Key", "reader-key");
        var invoker = api.CreateClient();
        invoker.DefaultRequestHeaders.Add("X-Api-Key", "invoker-key");

        await (await reader.PostAsync("/functions/add/call", Http.Json("{\"args\": [1, 2]}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        await (await reader.PostAsync("/rpc/scoped@fn/hornbeam/ping", null)).AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Equal(HttpStatusCode.OK, (await invoker.PostAsync("/functions/add/call", Http.Json("{\"args\": [1, 2]}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await invoker.PostAsync("/rpc/scoped@fn/hornbeam/ping", null)).StatusCode);
        var refused = await (await invoker.PutAsync("/functions/x", Http.Json("{\"url\": \"http://127.0.0.1:1/x\"}")))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("admin", refused.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task HttpCastsBeyondTheInFlightCapGet503OverloadedAndAreAcceptedAgainOnceOneFinishes()
    {
        await using var endpoint = await TestEndpoint.StartAsync();
        var settings = Allow(endpoint.Authority);
        settings["Hornbeam:Webhooks:MaxCastsInFlight"] = "2";
        await using var api = await ClusterNodes.StartAsync(TestPrefix.New(), "a@castcap", more: settings);
        var client = api.CreateClient();
        Assert.Equal(HttpStatusCode.NoContent,
            (await client.PutAsync("/functions/held", Http.Json($"{{\"url\": \"{endpoint.Url}/held\"}}"))).StatusCode);

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/functions/held/cast", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/functions/held/cast", null)).StatusCode);
        var refused = await client.PostAsync("/functions/held/cast", null);
        var problem = await refused.AssertProblemAsync(503, HornbeamErrors.Type(HornbeamError.Overloaded));
        Assert.Contains("MaxCastsInFlight", problem.GetProperty("detail").GetString());
        Assert.NotNull(refused.Headers.RetryAfter);

        await Poll.UntilAsync(() => Task.FromResult(endpoint.Calls == 2), because: "both accepted casts reached the endpoint");
        endpoint.Release.TrySetResult();
        await Poll.UntilAsync(async () => (await client.PostAsync("/functions/held/cast", null)).StatusCode == HttpStatusCode.Accepted,
            because: "a cast is accepted again once one has finished");
        await Poll.UntilAsync(() => Task.FromResult(endpoint.Calls == 3), because: "the later cast ran");
    }

    /// <summary>A small HTTP server on a loopback port, standing in for a user's endpoint.</summary>
    private sealed class TestEndpoint : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _calls;
        private int _slowCalls;

        private TestEndpoint(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        /// <summary>The endpoint's <c>host:port</c>, an allow-list entry for it.</summary>
        public string Authority => new Uri(Url).Authority;

        public int Port => new Uri(Url).Port;

        /// <summary>The address the last call to <c>/sum</c> came in on.</summary>
        public IPAddress? LastLocalAddress { get; private set; }

        public int Calls => Volatile.Read(ref _calls);

        /// <summary>Calls <c>/slow</c> has had; it answers after 30 s, so any call to it times out.</summary>
        public int SlowCalls => Volatile.Read(ref _slowCalls);

        /// <summary>What <c>/held</c> waits for.</summary>
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static async Task<TestEndpoint> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var endpoint = new TestEndpoint(app);
            app.MapPost("/sum", async (HttpRequest request) =>
            {
                Interlocked.Increment(ref endpoint._calls);
                endpoint.LastLocalAddress = request.HttpContext.Connection.LocalIpAddress;
                using var body = await JsonDocument.ParseAsync(request.Body);
                var sum = body.RootElement.GetProperty("args").EnumerateArray().Sum(a => a.GetInt64());
                return Results.Text($"{{\"sum\": {sum}}}", "application/json");
            });
            app.MapPost("/held", async () =>
            {
                Interlocked.Increment(ref endpoint._calls);
                await endpoint.Release.Task;
                return Results.Text("null", "application/json");
            });
            app.MapPost("/fail", () => Results.Text("out of memory", statusCode: 500));
            app.MapPost("/text", () => Results.Text("not json"));
            app.MapPost("/slow", async (CancellationToken ct) =>
            {
                Interlocked.Increment(ref endpoint._slowCalls);
                await Task.Delay(TimeSpan.FromSeconds(30), ct);
                return Results.Ok();
            });
            await app.StartAsync();
            endpoint.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return endpoint;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
