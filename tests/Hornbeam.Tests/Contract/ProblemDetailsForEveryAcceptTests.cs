using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Contract;

/// <summary>
/// Every error is a ProblemDetails in <c>application/problem+json</c>, whatever the request's Accept says: an EventSource
/// sends <c>text/event-stream</c>, a browser tab <c>text/html</c>, and both once got a 500 with an empty body instead.
/// </summary>
public sealed class ProblemDetailsForEveryAcceptTests(ProblemDetailsForEveryAcceptTests.Hosts hosts)
    : IClassFixture<ProblemDetailsForEveryAcceptTests.Hosts>
{
    /// <summary>
    /// Three hosts, because the errors need settings that exclude each other: access control on (401, 403, 429, and the
    /// framework's, binder's and a failing function's errors), a Redis that cannot be reached (redis-unavailable), and a
    /// write that waits for a replica that does not exist (outcome-unknown).
    /// </summary>
    public sealed class Hosts : IAsyncLifetime
    {
        private HornbeamApiFactory _keyed = null!, _noRedis = null!, _noReplica = null!;

        public HttpClient Keyed { get; private set; } = null!;
        public HttpClient NoRedis { get; private set; } = null!;
        public HttpClient NoReplica { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var redis = await RedisServer.ConnectionStringAsync();
            _keyed = new HornbeamApiFactory(redis, TestPrefix.New(), new Dictionary<string, string?>
            {
                ["Hornbeam:Auth:Enabled"] = "true",
                ["Hornbeam:Auth:Keys:0:Key"] = "all-secret",
                ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
                ["Hornbeam:Auth:Keys:0:Scopes:1"] = "state:write",
                ["Hornbeam:Auth:Keys:0:Scopes:2"] = "pubsub",
                ["Hornbeam:Auth:Keys:0:Scopes:3"] = "invoke",
                ["Hornbeam:Auth:Keys:1:Key"] = "read-secret",
                ["Hornbeam:Auth:Keys:1:Scopes:0"] = "state:read",
                ["Hornbeam:Auth:Keys:2:Key"] = "slow-secret",
                ["Hornbeam:Auth:Keys:2:Scopes:0"] = "state:read",
                ["Hornbeam:Auth:Keys:2:PermitsPerSecond"] = "1",
                ["Hornbeam:MaxValueBytes"] = "100",
                ["Hornbeam:MaxRequestBodyBytes"] = "1000",
            }, configure: hornbeam => hornbeam.AddFunction("fail", string () => throw new InvalidOperationException("it failed")));
            // Kestrel's own body limit answers the 413, as in production.
            _keyed.UseKestrel(0);
            _keyed.StartServer();
            Keyed = _keyed.CreateClient();
            // A port nothing listens on: every Redis call fails at once.
            _noRedis = new HornbeamApiFactory("127.0.0.1:1", TestPrefix.New());
            NoRedis = _noRedis.CreateClient();
            _noReplica = new HornbeamApiFactory(redis, TestPrefix.New(), new Dictionary<string, string?>
            {
                ["Hornbeam:Redis:WaitReplicas"] = "1",
                ["Hornbeam:Redis:DeadlineMs"] = "300",
            });
            NoReplica = _noReplica.CreateClient();
            await Poll.UntilAsync(async () => (await Keyed.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
                "the keyed host is ready");
        }

        public async Task DisposeAsync()
        {
            await _keyed.DisposeAsync();
            await _noRedis.DisposeAsync();
            await _noReplica.DisposeAsync();
        }
    }

    public static TheoryData<string> Accepts => ["text/event-stream", "text/html", "application/xml", "*/*", "", "application/json",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"];

    private static HttpRequestMessage Request(HttpMethod method, string url, string accept, string? key = null, HttpContent? body = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = body };
        if (accept.Length > 0) request.Headers.TryAddWithoutValidation("Accept", accept);
        if (key is not null) request.Headers.Add("X-Api-Key", key);
        return request;
    }

    private static async Task AssertProblemAsync(string kind, HttpResponseMessage response, int status, string? type)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{kind}: expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"{kind}: Content-Type {response.Content.Headers.ContentType}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(status, body.GetProperty("status").GetInt32());
        if (type is not null) Assert.Equal(type, body.GetProperty("type").GetString());
        else Assert.StartsWith("https://tools.ietf.org/html/rfc9110#section-", body.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("detail").GetString()), $"{kind}: no detail: {text}");
        Assert.True(body.TryGetProperty("trace_id", out _), $"{kind}: no trace_id: {text}");
    }

    [Theory]
    [MemberData(nameof(Accepts))]
    public async Task AccessErrorsAreProblemJsonWhateverTheAccept(string accept)
    {
        var topic = $"accept:{Guid.NewGuid():N}";
        await AssertProblemAsync("401", await hosts.Keyed.SendAsync(Request(HttpMethod.Get, $"/pubsub/{topic}", accept)),
            401, ProblemTypes.Unauthorized);
        await AssertProblemAsync("401 wrong key", await hosts.Keyed.SendAsync(Request(HttpMethod.Get, "/state/k", accept, "wrong")),
            401, ProblemTypes.Unauthorized);
        await AssertProblemAsync("403", await hosts.Keyed.SendAsync(Request(HttpMethod.Get, $"/pubsub/{topic}", accept, "read-secret")),
            403, ProblemTypes.Forbidden);
        HttpResponseMessage? limited = null;
        await Poll.UntilAsync(async () =>
        {
            limited = await hosts.Keyed.SendAsync(Request(HttpMethod.Get, "/state/k", accept, "slow-secret"));
            return (int)limited.StatusCode == 429;
        }, because: "the key's one request per second is used up");
        await AssertProblemAsync("429", limited!, 429, ProblemTypes.RateLimited);
        Assert.NotNull(limited!.Headers.RetryAfter);
    }

    [Theory]
    [MemberData(nameof(Accepts))]
    public async Task InputRoutingAndHandlerErrorsAreProblemJsonWhateverTheAccept(string accept)
    {
        var key = $"accept:{Guid.NewGuid():N}";
        const string all = "all-secret";
        Task<HttpResponseMessage> Send(HttpMethod method, string url, HttpContent? body = null) =>
            hosts.Keyed.SendAsync(Request(method, url, accept, all, body));
        await AssertProblemAsync("400 binding on a stream", await Send(HttpMethod.Get, $"/pubsub/{key}?last_event_id=abc"),
            400, ProblemTypes.InvalidInput);
        await AssertProblemAsync("400 JSON", await Send(HttpMethod.Put, $"/state/{key}", Http.Json("{")), 400, ProblemTypes.InvalidInput);
        await AssertProblemAsync("404 value", await Send(HttpMethod.Get, $"/state/{key}"), 404, ProblemTypes.NotFound);
        await AssertProblemAsync("404 route", await Send(HttpMethod.Get, "/no-such-route"), 404, null);
        await AssertProblemAsync("405", await Send(HttpMethod.Delete, "/health/ready"), 405, null);
        var text = new StringContent("1", Encoding.UTF8, "text/plain");
        await AssertProblemAsync("415", await Send(HttpMethod.Post, "/state/multi", text), 415, null);
        await AssertProblemAsync("500 from the exception handler", await Send(HttpMethod.Post, "/functions/fail/call"),
            500, ProblemTypes.HandlerFailed);
        var big = Request(HttpMethod.Put, $"/state/{key}", accept, all, Http.Json(new string('1', 2000)));
        big.Headers.ExpectContinue = true;
        await AssertProblemAsync("413", await hosts.Keyed.SendAsync(big), 413, ProblemTypes.TooLarge);
    }

    [Theory]
    [MemberData(nameof(Accepts))]
    public async Task RedisErrorsAreProblemJsonWhateverTheAccept(string accept)
    {
        var key = $"accept:{Guid.NewGuid():N}";
        var unavailable = await hosts.NoRedis.SendAsync(Request(HttpMethod.Get, $"/state/{key}", accept));
        await AssertProblemAsync("503 on state", unavailable, 503, ProblemTypes.RedisUnavailable);
        Assert.NotNull(unavailable.Headers.RetryAfter);
        // A stream is no error: it says reconnect in the stream, since EventSource gives up for good on a 503 (PubSubOutageTests).
        var stream = await hosts.NoRedis.SendAsync(Request(HttpMethod.Get, $"/pubsub/{key}", accept));
        Assert.Equal(200, (int)stream.StatusCode);
        Assert.Contains("event: reconnect", await stream.Content.ReadAsStringAsync());
        await AssertProblemAsync("503 outcome unknown",
            await hosts.NoReplica.SendAsync(Request(HttpMethod.Post, $"/state/incr/{key}", accept)), 503, ProblemTypes.OutcomeUnknown);
    }
}
