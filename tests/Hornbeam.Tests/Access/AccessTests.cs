using System.Net;
using System.Net.Http.Headers;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Access;

/// <summary>API keys with scopes, per-key rate limits, and the refusal to start unprotected outside Development.</summary>
public sealed class AccessTests(AccessTests.KeyedHost host) : IClassFixture<AccessTests.KeyedHost>
{
    /// <summary>One host with the keys below for the whole class; tests that need other settings start their own.</summary>
    public sealed class KeyedHost : IAsyncLifetime
    {
        public HornbeamApiFactory Api { get; private set; } = null!;

        public async Task InitializeAsync() => Api = await HornbeamApiFactory.StartAsync(settings: Keys);

        public async Task DisposeAsync() => await Api.DisposeAsync();
    }

    // The host is shared, so a test that counts writes uses a key of its own.
    private readonly string _hits = $"hits:{Guid.NewGuid():N}";

    private static readonly Dictionary<string, string?> Keys = new()
    {
        ["Hornbeam:Auth:Enabled"] = "true",
        ["Hornbeam:Auth:Keys:0:Name"] = "reader",
        ["Hornbeam:Auth:Keys:0:Key"] = "read-secret",
        ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
        ["Hornbeam:Auth:Keys:1:Name"] = "writer",
        ["Hornbeam:Auth:Keys:1:Key"] = "write-secret",
        ["Hornbeam:Auth:Keys:1:Scopes:0"] = "state:read",
        ["Hornbeam:Auth:Keys:1:Scopes:1"] = "state:write",
        ["Hornbeam:Auth:Keys:2:Name"] = "limited",
        ["Hornbeam:Auth:Keys:2:Key"] = "slow-secret",
        ["Hornbeam:Auth:Keys:2:Scopes:0"] = "state:read",
        ["Hornbeam:Auth:Keys:2:PermitsPerSecond"] = "2",
        ["Hornbeam:Auth:Keys:3:Name"] = "ops",
        ["Hornbeam:Auth:Keys:3:Key"] = "ops-secret",
        ["Hornbeam:Auth:Keys:3:Scopes:0"] = "admin",
    };

    private HttpClient Client(string? bearer = null, string? header = null)
    {
        var client = host.Api.CreateClient();
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (header is not null) client.DefaultRequestHeaders.Add("X-Api-Key", header);
        return client;
    }

    [Fact]
    public async Task ARequestWithoutAKeyGets401()
    {
        var response = await Client().GetAsync("/state/x");
        await response.AssertProblemAsync(401, ProblemTypes.Unauthorized);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task EveryRequestOnAKeepAliveConnectionIsCheckedAgainstTheKeyItSends()
    {
        // Over real Kestrel: a connection remembers the key it last proved, so a changed key must still get the full check.
        await using var api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), Keys);
        api.UseKestrel(0);
        api.StartServer();
        using var client = api.CreateClient();
        async Task<HttpStatusCode> Increment(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/state/incr/visits") { Headers = { { "X-Api-Key", key } } };
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await Increment("write-secret"));
        Assert.Equal(HttpStatusCode.Unauthorized, await Increment("write-secreT"));
        Assert.Equal(HttpStatusCode.Unauthorized, await Increment("write-secret2"));
        Assert.Equal(HttpStatusCode.Forbidden, await Increment("read-secret"));
        Assert.Equal(HttpStatusCode.Forbidden, await Increment("read-secret"));
        Assert.Equal(HttpStatusCode.OK, await Increment("write-secret"));
        Assert.Equal("""{"key":"visits","value":2}""", await GetAsWriter(client));
    }

    private static async Task<string> GetAsWriter(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/state/visits") { Headers = { { "X-Api-Key", "write-secret" } } };
        using var response = await client.SendAsync(request);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task RefusalsAreProblemDetailsJsonWhateverTheAcceptHeaderAsksFor()
    {
        // A browser's EventSource asks for text/event-stream; it must still read why it was refused.
        foreach (var (key, status, type) in new[]
                 {
                     ((string?)null, 401, ProblemTypes.Unauthorized), ("read-secret", 403, ProblemTypes.Forbidden),
                 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/pubsub/{_hits}")
            {
                Headers = { { "Accept", "text/event-stream" } },
            };
            if (key is not null) request.Headers.Add("X-Api-Key", key);
            await (await Client().SendAsync(request)).AssertProblemAsync(status, type);
        }
    }

    [Fact]
    public async Task WithoutSigningKeysTheTokenRouteAnswers501()
    {
        var response = await Client(bearer: "ops-secret").PostAsync("/auth/tokens", Http.Json("""{"scopes":["admin"]}"""));
        var problem = await response.AssertProblemAsync(501, ProblemTypes.TokensNotConfigured);
        Assert.Contains("Hornbeam:Auth:Tokens:SigningKeys", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnUnknownKeyGets401()
    {
        await (await Client(bearer: "wrong").GetAsync("/state/x")).AssertProblemAsync(401, ProblemTypes.Unauthorized);
    }

    [Fact]
    public async Task AKeyLackingTheScopeGets403NamingTheScope()
    {
        var problem = await (await Client(bearer: "read-secret").PostAsync("/state/incr/x", null))
            .AssertProblemAsync(403, ProblemTypes.Forbidden);
        Assert.Contains("state:write", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await Client(bearer: "read-secret").GetAsync("/state/x")).StatusCode);
    }

    [Fact]
    public async Task KeysWorkAsBearerTokensAndAsXApiKeyHeaders()
    {
        Assert.Equal(HttpStatusCode.OK, (await Client(bearer: "write-secret").PostAsync($"/state/incr/{_hits}", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client(header: "write-secret").PostAsync($"/state/incr/{_hits}", null)).StatusCode);
        var got = await (await Client(header: "read-secret").GetAsync($"/state/{_hits}")).ReadJsonAsync();
        Assert.Equal(2, got.GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task HealthProbesNeedNoKey()
    {
        Assert.Equal(HttpStatusCode.OK, (await Client().GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client().GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task AKeyOverItsRateGets429WithRetryAfter()
    {
        var client = Client(bearer: "slow-secret");
        var statuses = new List<HttpResponseMessage>();
        for (var i = 0; i < 6; i++) statuses.Add(await client.GetAsync("/state/limited"));
        var rejected = statuses.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.NotNull(rejected);
        await rejected.AssertProblemAsync(429, ProblemTypes.RateLimited);
        Assert.NotNull(rejected.Headers.RetryAfter);
        // Another key is not affected by this key's limit.
        Assert.Equal(HttpStatusCode.NotFound, (await Client(bearer: "read-secret").GetAsync("/state/limited")).StatusCode);
    }

    [Fact]
    public async Task WithAccessControlOffAnyKeyOrNoneIsServedAndAKeysRateStillApplies()
    {
        Dictionary<string, string?> off = new()
        {
            ["Hornbeam:Auth:Enabled"] = "false",
            ["Hornbeam:Auth:Keys:0:Name"] = "reader",
            ["Hornbeam:Auth:Keys:0:Key"] = "read-secret",
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
        };
        await using (var api = await HornbeamApiFactory.StartAsync(settings: off))
        {
            using var noKey = api.CreateClient();
            using var unknown = api.CreateClient();
            unknown.DefaultRequestHeaders.Add("X-Api-Key", "not-a-key");
            using var lacking = api.CreateClient();
            lacking.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "read-secret");
            foreach (var client in new[] { noKey, unknown, lacking })
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/state/incr/open", null)).StatusCode);
            Assert.Equal(3, (await (await noKey.GetAsync("/state/open")).ReadJsonAsync()).GetProperty("value").GetInt64());
        }

        // A rate set for a key still counts that key's requests when access control is off.
        off["Hornbeam:Auth:Keys:0:PermitsPerSecond"] = "2";
        await using (var api = await HornbeamApiFactory.StartAsync(settings: off))
        {
            using var limited = api.CreateClient();
            limited.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "read-secret");
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 6; i++) statuses.Add((await limited.GetAsync("/state/open")).StatusCode);
            Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        }
    }

    [Fact]
    public async Task TheOpenApiDocumentDeclaresTheSecuritySchemesAndScopes()
    {
        var document = await (await Client().GetAsync("/openapi/v1.json")).ReadJsonAsync();
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("bearer", schemes.GetProperty("Bearer").GetProperty("scheme").GetString());
        Assert.Equal("X-Api-Key", schemes.GetProperty("ApiKey").GetProperty("name").GetString());
        var incr = document.GetProperty("paths").GetProperty("/state/incr/{key}").GetProperty("post");
        Assert.Equal("state:write", incr.GetProperty("security")[0].GetProperty("Bearer")[0].GetString());
    }

    [Fact]
    public async Task OutsideDevelopmentTheServiceRefusesToStartWithoutKeys()
    {
        var factory = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(),
            new Dictionary<string, string?> { ["Hornbeam:Auth:Enabled"] = null }, environment: "Production");
        var error = Assert.ThrowsAny<Exception>(() => factory.Server);
        Assert.Contains("Hornbeam:Auth:Keys", error.ToString());
    }
}
