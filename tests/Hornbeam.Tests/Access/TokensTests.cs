using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hornbeam.Api.Access;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Browser;
using Hornbeam.Tests.Infrastructure;
using Hornbeam.Tests.PubSub;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;

namespace Hornbeam.Tests.Access;

/// <summary>
/// Browser tokens from <c>POST /auth/tokens</c>: bearer tokens on any route, <c>?access_token=</c> on the subscribe routes
/// only, no scope beyond the minting key's, topic patterns, key rotation, expiry ending open streams, and a token that
/// never reaches the logs or traces. One host over real Kestrel, so WebSockets and streams behave as for a browser.
/// </summary>
public sealed class TokensTests(TokensTests.TokenHost host) : IClassFixture<TokensTests.TokenHost>
{
    private static readonly string NewKey = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private static readonly string OldKey = Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray());

    internal static readonly Dictionary<string, string?> Settings = new()
    {
        ["Hornbeam:Auth:Enabled"] = "true",
        ["Hornbeam:Auth:Keys:0:Name"] = "minter",
        ["Hornbeam:Auth:Keys:0:Key"] = "mint-secret",
        ["Hornbeam:Auth:Keys:0:Scopes:0"] = "pubsub",
        ["Hornbeam:Auth:Keys:0:Scopes:1"] = "state:read",
        ["Hornbeam:Auth:Keys:0:Scopes:2"] = "tokens",
        ["Hornbeam:Auth:Keys:1:Name"] = "ops",
        ["Hornbeam:Auth:Keys:1:Key"] = "ops-secret",
        ["Hornbeam:Auth:Keys:1:Scopes:0"] = "admin",
        ["Hornbeam:Auth:Keys:1:Scopes:1"] = "state:write",
        ["Hornbeam:Auth:Keys:2:Name"] = "reader",
        ["Hornbeam:Auth:Keys:2:Key"] = "read-secret",
        ["Hornbeam:Auth:Keys:2:Scopes:0"] = "state:read",
        ["Hornbeam:Auth:Tokens:MaxTtlSeconds"] = "600",
        ["Hornbeam:Auth:Tokens:SigningKeys:0:Id"] = "new",
        ["Hornbeam:Auth:Tokens:SigningKeys:0:Key"] = NewKey,
        ["Hornbeam:Auth:Tokens:SigningKeys:1:Id"] = "old",
        ["Hornbeam:Auth:Tokens:SigningKeys:1:Key"] = OldKey,
    };

    public sealed class TokenHost : IAsyncLifetime
    {
        public HornbeamApiFactory Api { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), Settings);
            Api.UseKestrel(0);
            Api.StartServer();
            var client = Api.CreateClient();
            await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
                "the host is ready");
        }

        public async Task DisposeAsync() => await Api.DisposeAsync();
    }

    private readonly string _room = Guid.NewGuid().ToString("N")[..8];

    private HttpClient Client(string? bearer = null) => ClientOf(host.Api, bearer);

    private static HttpClient ClientOf(WebApplicationFactory<Program> api, string? bearer)
    {
        var client = api.CreateClient();
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    private static async Task<HttpResponseMessage> MintAsync(HttpClient client, string body) =>
        await client.PostAsync("/auth/tokens", Http.Json(body));

    private async Task<string> TokenAsync(string body, string key = "mint-secret")
    {
        var response = await MintAsync(Client(key), body);
        var json = await response.ReadJsonAsync();
        Assert.True(response.IsSuccessStatusCode, json.ToString());
        return json.GetProperty("token").GetString()!;
    }

    private static Uri WebSocketUri(WebApplicationFactory<Program> api, string pathAndQuery)
    {
        var http = api.CreateClient().BaseAddress!;
        return new Uri($"ws://{http.Authority}{pathAndQuery}");
    }

    private static async Task<ClientWebSocket> ConnectAsync(Uri uri)
    {
        var socket = new ClientWebSocket { Options = { CollectHttpResponseDetails = true } };
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await socket.ConnectAsync(uri, deadline.Token);
        }
        catch (WebSocketException)
        {
            // The refusal's status stays readable on the socket (CollectHttpResponseDetails).
        }
        return socket;
    }

    private static async Task<(WebSocketMessageType Type, string Text, WebSocketCloseStatus? Status, string? Reason)> ReceiveAsync(
        WebSocket socket, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[16 * 1024];
        var length = 0;
        WebSocketReceiveResult frame;
        do
        {
            frame = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), deadline.Token);
            length += frame.Count;
        } while (!frame.EndOfMessage);
        return (frame.MessageType, Encoding.UTF8.GetString(buffer, 0, length), frame.CloseStatus, frame.CloseStatusDescription);
    }

    [Fact]
    public async Task ATokenFromAuthTokensNamesItsExpiryAndIsAcceptedAsABearerTokenOnAnyRoute()
    {
        var before = DateTimeOffset.UtcNow;
        var answer = await (await MintAsync(Client("mint-secret"), """{"scopes":["state:read"],"ttl_seconds":60}""")).ReadJsonAsync();
        var token = answer.GetProperty("token").GetString()!;
        var expiresAt = answer.GetProperty("expires_at").GetDateTimeOffset();
        Assert.InRange(expiresAt, before.AddSeconds(58), DateTimeOffset.UtcNow.AddSeconds(61));

        Assert.Equal(HttpStatusCode.NotFound, (await Client(token).GetAsync($"/state/{_room}")).StatusCode);
        var refused = await (await Client(token).PostAsync($"/state/incr/{_room}", null)).AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("token lacks the 'state:write' scope", refused.GetProperty("detail").GetString());
        await (await Client(token + "x").GetAsync($"/state/{_room}")).AssertProblemAsync(401, ProblemTypes.Unauthorized);
    }

    [Fact]
    public async Task ATokenIsReadFromTheQueryStringOnlyOnTheSseAndWebSocketSubscribeRoutes()
    {
        var token = await TokenAsync("""{"scopes":["pubsub","state:read"]}""");

        var elsewhere = await Client().GetAsync($"/state/{_room}?access_token={token}");
        var problem = await elsewhere.AssertProblemAsync(401, ProblemTypes.Unauthorized);
        Assert.Contains("only on the subscribe routes", problem.GetProperty("detail").GetString());
        await (await Client().PostAsync($"/pubsub/chat:{_room}?access_token={token}", Http.Json("1")))
            .AssertProblemAsync(401, ProblemTypes.Unauthorized);

        await using var sse = await SseStream.OpenAsync(Client(), $"/pubsub/chat:{_room}?access_token={token}");
        using var socket = await ConnectAsync(WebSocketUri(host.Api, $"/ws/chat/{_room}?access_token={token}"));
        Assert.Equal(WebSocketState.Open, socket.State);
        Assert.Contains("\"subscribed\"", (await ReceiveAsync(socket)).Text);
        var published = await (await Client(token).PostAsync($"/pubsub/chat:{_room}", Http.Json("""{"text":"hi"}"""))).ReadJsonAsync();
        Assert.Equal(2, published.GetProperty("subscribers").GetInt64());
        Assert.Equal("hi", (await sse.NextAsync()).Json.GetProperty("text").GetString());
        Assert.Contains("\"hi\"", (await ReceiveAsync(socket)).Text);
    }

    [Fact]
    public async Task ATokenCanGrantNoScopeItsKeyLacksAndOnlyKeysWithTheTokensOrAdminScopeMintThem()
    {
        var escalation = await (await MintAsync(Client("mint-secret"), """{"scopes":["pubsub","state:write"]}"""))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("'state:write'", escalation.GetProperty("detail").GetString());
        var reader = await (await MintAsync(Client("read-secret"), """{"scopes":["state:read"]}"""))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("'tokens' scope (or 'admin')", reader.GetProperty("detail").GetString());
        await (await MintAsync(Client(), """{"scopes":["state:read"]}""")).AssertProblemAsync(401, ProblemTypes.Unauthorized);

        var fromAdmin = await TokenAsync("""{"scopes":["state:write"]}""", key: "ops-secret");
        Assert.Equal(HttpStatusCode.OK, (await Client(fromAdmin).PostAsync($"/state/incr/{_room}", null)).StatusCode);
        // A token cannot mint another, even one holding admin.
        var admin = await TokenAsync("""{"scopes":["admin"]}""", key: "ops-secret");
        await (await MintAsync(Client(admin), """{"scopes":["admin"]}""")).AssertProblemAsync(403, ProblemTypes.Forbidden);
    }

    [Theory]
    [InlineData("""{"scopes":[]}""", "at least one scope")]
    [InlineData("""{"scopes":["everything"]}""", "Unknown scope 'everything'")]
    [InlineData("""{"scopes":["tokens"]}""", "cannot carry the 'tokens' scope")]
    [InlineData("""{"scopes":["pubsub"],"topics":[]}""", "topics must list 1 to")]
    [InlineData("""{"scopes":["pubsub"],"topics":[""]}""", "Each topic pattern must be 1 to")]
    [InlineData("""{"scopes":["pubsub"],"ttl_seconds":0}""", "ttl_seconds must be between 1 and 600")]
    [InlineData("""{"scopes":["pubsub"],"ttl_seconds":601}""", "ttl_seconds must be between 1 and 600")]
    public async Task ABadTokenRequestGets400SayingWhatIsWrong(string body, string detail)
    {
        var problem = await (await MintAsync(Client("mint-secret"), body)).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains(detail, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ATokenMayPublishAndSubscribeOnlyToTopicsItsPatternsMatch()
    {
        var token = await TokenAsync($$"""{"scopes":["pubsub"],"topics":["chat:{{_room}}:*","news"]}""");

        await using (await SseStream.OpenAsync(Client(), $"/pubsub/chat:{_room}:general?access_token={token}")) { }
        await using (await SseStream.OpenAsync(Client(token), "/pubsub/news")) { }
        Assert.Equal(HttpStatusCode.OK, (await Client(token).PostAsync($"/pubsub/chat:{_room}:a:b", Http.Json("1"))).StatusCode);

        var subscribe = await Client().GetAsync($"/pubsub/chat:other?access_token={token}");
        var problem = await subscribe.AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("may not use the topic 'chat:other'", problem.GetProperty("detail").GetString());
        await (await Client(token).PostAsync("/pubsub/news:sport", Http.Json("1"))).AssertProblemAsync(403, ProblemTypes.Forbidden);

        // Refused after the upgrade, where a browser can read why: an error frame with the problem, then 1008.
        using var socket = await ConnectAsync(WebSocketUri(host.Api, $"/ws/chat/other?access_token={token}"));
        await AssertRefusedAsync(socket, 403, ProblemTypes.Forbidden, "may not use the topic 'chat:other'");
    }

    [Fact]
    public async Task ATokenListsOnlyTheTopicsItsPatternsMatch()
    {
        var token = await TokenAsync($$"""{"scopes":["pubsub"],"topics":["chat:{{_room}}:*"]}""");
        await using var mine = await SseStream.OpenAsync(Client(token), $"/pubsub/chat:{_room}:listed");
        await using var other = await SseStream.OpenAsync(Client("mint-secret"), $"/pubsub/other:{_room}");
        async Task<List<string>> ListedAsync(HttpClient client) =>
            [.. (await (await client.GetAsync("/pubsub")).ReadJsonAsync()).GetProperty("topics").EnumerateArray()
                .Select(t => t.GetProperty("topic").GetString()!)];
        await Poll.UntilAsync(async () => (await ListedAsync(Client("mint-secret"))).Contains($"other:{_room}"),
            because: "the key lists every topic");

        var listed = await ListedAsync(Client(token));
        Assert.Contains($"chat:{_room}:listed", listed);
        Assert.DoesNotContain($"other:{_room}", listed);
    }

    [Fact]
    public async Task AWebSocketWithoutAValidCredentialIsToldWhyThenClosedWith1008()
    {
        using (var none = await ConnectAsync(WebSocketUri(host.Api, $"/ws/chat/{_room}")))
            await AssertRefusedAsync(none, 401, ProblemTypes.Unauthorized, "Send an API key");
        using (var wrong = await ConnectAsync(WebSocketUri(host.Api, $"/ws/chat/{_room}?access_token=not-a-token")))
            await AssertRefusedAsync(wrong, 401, ProblemTypes.Unauthorized, "token is not valid");
        // A request that is no upgrade still gets the HTTP answer.
        await (await Client().GetAsync($"/ws/chat/{_room}")).AssertProblemAsync(401, ProblemTypes.Unauthorized);
    }

    [BrowserFact]
    public async Task ABrowsersWebSocketRefusedForItsTopicReadsWhyAndClosesCleanlyWith1008()
    {
        var token = await TokenAsync($$"""{"scopes":["pubsub"],"topics":["chat:{{_room}}:*"]}""");
        var closed = await BrowserHarness.RunAsync(new Uri(host.Api.CreateClient().BaseAddress!, "/health/live"), """
            async ({ url }) => new Promise((resolve) => {
              const socket = new WebSocket(url);
              const frames = [];
              socket.onmessage = (e) => frames.push(JSON.parse(e.data));
              socket.onclose = (e) => resolve({ code: e.code, wasClean: e.wasClean, frames });
            })
            """, new { url = WebSocketUri(host.Api, $"/ws/chat/other?access_token={token}").ToString() });
        Assert.Equal(1008, closed.GetProperty("code").GetInt32());
        Assert.True(closed.GetProperty("wasClean").GetBoolean(), $"the close handshake completed: {closed}");
        var error = Assert.Single(closed.GetProperty("frames").EnumerateArray());
        Assert.Equal(("error", 403), (error.GetProperty("event").GetString(), error.GetProperty("status").GetInt32()));
    }

    private static async Task AssertRefusedAsync(ClientWebSocket socket, int status, string type, string detail)
    {
        Assert.Equal(HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);
        var error = await ReceiveAsync(socket);
        using var frame = JsonDocument.Parse(error.Text);
        Assert.Equal("error", frame.RootElement.GetProperty("event").GetString());
        Assert.Equal(status, frame.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(type, frame.RootElement.GetProperty("type").GetString());
        Assert.Contains(detail, frame.RootElement.GetProperty("detail").GetString());
        var close = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, close.Status);
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Theory]
    [InlineData("chat:*", "chat:general", true)]
    [InlineData("chat:*", "chat:a:b", true)]
    [InlineData("chat:*", "chat", false)]
    [InlineData("*:room", "chat:room", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("news", "news:x", false)]
    [InlineData("*", "", true)]
    public void TopicPatternsAreGlobsWhereAStarMatchesAnyCharacters(string pattern, string topic, bool matches) =>
        Assert.Equal(matches, TopicAccess.Matches(pattern, topic));

    [Fact]
    public async Task ATokenSignedByAnOlderKeyVerifiesWhileThatKeyIsListed()
    {
        var old = Issuer("old", OldKey).Issue("minter", ["state:read"], null, TimeSpan.FromMinutes(1)).Token;
        Assert.Equal(HttpStatusCode.NotFound, (await Client(old).GetAsync($"/state/{_room}")).StatusCode);

        var unlisted = Issuer("gone", Convert.ToBase64String(new byte[32])).Issue("minter", ["state:read"], null, TimeSpan.FromMinutes(1));
        await (await Client(unlisted.Token).GetAsync($"/state/{_room}")).AssertProblemAsync(401, ProblemTypes.Unauthorized);
        // A token naming a key that is no longer configured is refused too, whatever signed it.
        var orphan = Issuer("new", NewKey).Issue("removed", ["state:read"], null, TimeSpan.FromMinutes(1));
        var problem = await (await Client(orphan.Token).GetAsync($"/state/{_room}")).AssertProblemAsync(401, ProblemTypes.Unauthorized);
        Assert.Contains("no longer configured", problem.GetProperty("detail").GetString());
    }

    private static TokenIssuer Issuer(string id, string key) => new(Microsoft.Extensions.Options.Options.Create(new AccessOptions
    {
        Tokens = { SigningKeys = [new TokenSigningKeyOptions { Id = id, Key = key }] },
    }), TimeProvider.System);

    [Fact]
    public async Task AnExpiredTokenEndsAnOpenSseStreamWithAnExpiredEvent()
    {
        var token = await TokenAsync("""{"scopes":["pubsub"],"ttl_seconds":2}""");
        await using var sse = await SseStream.OpenAsync(Client(), $"/pubsub/chat:{_room}?access_token={token}");

        var expired = await sse.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("expired", expired.Event);
        Assert.Contains("expired", expired.Json.GetProperty("detail").GetString());
        Assert.Null(await sse.NextOrEndAsync(TimeSpan.FromSeconds(10)));

        // The stream's timer may fire a millisecond before the clock passes the token's exp, when it is still accepted.
        await Poll.UntilAsync(async () =>
        {
            using var again = await Client()
                .GetAsync($"/pubsub/chat:{_room}?access_token={token}", HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.Unauthorized;
        }, because: "the expired token is refused");
        var problem = await (await Client().GetAsync($"/pubsub/chat:{_room}?access_token={token}"))
            .AssertProblemAsync(401, ProblemTypes.Unauthorized);
        Assert.Contains("expired", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnExpiredTokenClosesAnOpenWebSocketWithPolicyViolation()
    {
        var token = await TokenAsync("""{"scopes":["pubsub"],"ttl_seconds":2}""");
        using var socket = await ConnectAsync(WebSocketUri(host.Api, $"/ws/chat/{_room}?access_token={token}"));
        Assert.Contains("\"subscribed\"", (await ReceiveAsync(socket)).Text);

        var expired = await ReceiveAsync(socket, TimeSpan.FromSeconds(15));
        Assert.Contains("\"expired\"", expired.Text);
        var close = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, close.Status);
        Assert.Contains("token expired", close.Reason);
    }

    [Fact]
    public async Task TheTokenIsNeverWrittenToTheLogsOrTraces()
    {
        // A host of its own: every log category at Trace (the request lines included) and tracing on.
        var lines = new ConcurrentQueue<string>();
        Dictionary<string, string?> verbose = new(Settings)
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace",
            ["Hornbeam:Telemetry:Tracing"] = "true",
        };
        var tags = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                tags.Enqueue(activity.DisplayName);
                foreach (var (name, value) in activity.TagObjects) tags.Enqueue($"{name}={value}");
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), verbose);
        await using var logged = api.WithWebHostBuilder(b => b.ConfigureLogging(l => l.AddProvider(new QueueLoggerProvider(lines))));
        logged.UseKestrel(0);
        logged.StartServer();

        var answer = await (await MintAsync(ClientOf(logged, "mint-secret"), """{"scopes":["pubsub"],"topics":["chat:*"]}"""))
            .ReadJsonAsync();
        var token = answer.GetProperty("token").GetString()!;
        await using (await SseStream.OpenAsync(ClientOf(logged, null), $"/pubsub/chat:{_room}?access_token={token}")) { }
        using (var socket = await ConnectAsync(WebSocketUri(logged, $"/ws/chat/{_room}?access_token={token}")))
            await ReceiveAsync(socket);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ClientOf(logged, null).GetAsync($"/state/x?access_token={token}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await ClientOf(logged, null).GetAsync($"/pubsub/news?access_token={token}")).StatusCode);

        await Poll.UntilAsync(() => Task.FromResult(lines.Any(l => l.Contains("/pubsub/news", StringComparison.Ordinal))
                                                    || tags.Any(t => t.Contains("/pubsub/news", StringComparison.Ordinal))),
            because: "the requests were logged or traced at all");
        var signature = token[(token.LastIndexOf('.') + 1)..];
        Assert.DoesNotContain(lines, l => l.Contains(signature, StringComparison.Ordinal));
        Assert.DoesNotContain(tags, t => t.Contains(signature, StringComparison.Ordinal));
        // The traces do carry the query, with the token's value redacted.
        Assert.Contains(tags, t => t.StartsWith("url.query=", StringComparison.Ordinal) &&
                                   t.Contains("access_token=", StringComparison.Ordinal));
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            lines.Enqueue($"scope: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) => lines.Enqueue($"{formatter(state, exception)} {exception}");

        public void Dispose() { }
    }
}
