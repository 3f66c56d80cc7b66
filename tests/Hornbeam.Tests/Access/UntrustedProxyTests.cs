using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Access;

/// <summary>Without Hornbeam:KnownProxies a client's X-Forwarded-For is not believed: limits count the address that connected.</summary>
public sealed class UntrustedProxyTests(UntrustedProxyTests.Host host) : IClassFixture<UntrustedProxyTests.Host>
{
    private const int FailedAttempts = 3;

    [Fact]
    public async Task WithoutKnownProxiesXForwardedForIsIgnoredAndFailedAttemptsCountTheConnectingAddress()
    {
        for (var i = 0; i <= FailedAttempts; i++)
        {
            using var client = host.Api.CreateClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/state/x")
            {
                Headers = { { "X-Api-Key", "wrong" }, { "X-Forwarded-For", $"198.51.100.{i}" } },
            };
            using var response = await client.SendAsync(request);
            if (i < FailedAttempts) await response.AssertProblemAsync(401, ProblemTypes.Unauthorized);
            else await response.AssertProblemAsync(429, ProblemTypes.RateLimited);
        }
    }

    [Fact]
    public async Task WhenRedisIsUnreachableTheRateLimitLetsRequestsThroughInsteadOfFailingThem()
    {
        // A port nothing listens on: every Redis call fails fast.
        await using var api = new HornbeamApiFactory("127.0.0.1:1", TestPrefix.New(), new Dictionary<string, string?>
        {
            ["Hornbeam:Auth:Enabled"] = "false",
            ["Hornbeam:RateLimit:PermitsPerSecond"] = "1",
        });
        using var client = api.CreateClient();
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        // A route that needs Redis answers its own 503, not a 500 from the limiter.
        await (await client.GetAsync("/state/x")).AssertProblemAsync(503, ProblemTypes.RedisUnavailable);
    }

    /// <summary>One host on real Kestrel (so requests come from 127.0.0.1) that believes no proxy.</summary>
    public sealed class Host : IAsyncLifetime
    {
        public HornbeamApiFactory Api { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), new Dictionary<string, string?>
            {
                ["Hornbeam:Auth:Enabled"] = "true",
                ["Hornbeam:Auth:FailedAttemptsPerMinute"] = FailedAttempts.ToString(),
                ["Hornbeam:Auth:Keys:0:Name"] = "reader",
                ["Hornbeam:Auth:Keys:0:Key"] = "read-secret",
                ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
            });
            Api.UseKestrel(0);
            Api.StartServer();
            var client = Api.CreateClient();
            await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
                "the host is ready");
        }

        public async Task DisposeAsync() => await Api.DisposeAsync();
    }
}
