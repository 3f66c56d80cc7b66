using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Cors;

/// <summary>
/// Hornbeam:Cors:AllowedOrigins, as a browser sees it on the wire: preflights answered before access control and never
/// limited, the CORS headers on every answer to an allowed origin (errors included), none for other origins, none at all
/// by default. Chromium itself runs the same in Browser/CorsInChromiumTests.
/// </summary>
public sealed class CorsTests(CorsTests.Hosts hosts) : IClassFixture<CorsTests.Hosts>
{
    private const string Allowed = "http://app.example";

    /// <summary>Three hosts, one per setting: one allowed origin (with keys and a rate limit), any origin, none.</summary>
    public sealed class Hosts : IAsyncLifetime
    {
        private readonly List<HornbeamApiFactory> _hosts = [];

        public HttpClient OneOrigin { get; private set; } = null!;
        public HttpClient AnyOrigin { get; private set; } = null!;
        public HttpClient NoOrigin { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            OneOrigin = await StartAsync(new()
            {
                ["Hornbeam:Cors:AllowedOrigins:0"] = Allowed,
                ["Hornbeam:Auth:Enabled"] = "true",
                ["Hornbeam:Auth:Keys:0:Key"] = "secret",
                ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
                // One request per second per client address without a key: a preflight that counted would be refused.
                ["Hornbeam:RateLimit:PermitsPerSecond"] = "1",
            });
            AnyOrigin = await StartAsync(new() { ["Hornbeam:Cors:AllowedOrigins:0"] = "*" });
            NoOrigin = await StartAsync([]);
        }

        private async Task<HttpClient> StartAsync(Dictionary<string, string?> settings)
        {
            var api = await HornbeamApiFactory.StartAsync(settings: settings);
            _hosts.Add(api);
            return api.CreateClient();
        }

        public async Task DisposeAsync()
        {
            foreach (var host in _hosts) await host.DisposeAsync();
        }
    }

    private static HttpRequestMessage Preflight(string origin, string method = "PUT",
        string headers = "authorization,content-type,idempotency-key,last-event-id,x-api-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Options, $"/state/cors:{Guid.NewGuid():N}");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return request;
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    [Fact]
    public async Task APreflightFromAnAllowedOriginIsAnsweredWithoutAKeyAndNeverRateLimited()
    {
        for (var i = 0; i < 5; i++)
        {
            using var response = await hosts.OneOrigin.SendAsync(Preflight(Allowed));
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Equal(Allowed, Header(response, "Access-Control-Allow-Origin"));
            Assert.Contains("PUT", Header(response, "Access-Control-Allow-Methods")!.Split(','));
            Assert.Equal(["authorization", "content-type", "idempotency-key", "last-event-id", "x-api-key"],
                Header(response, "Access-Control-Allow-Headers")!.ToLowerInvariant().Split(',').Order());
            Assert.Equal("600", Header(response, "Access-Control-Max-Age"));
            Assert.Null(Header(response, "Access-Control-Allow-Credentials"));
        }
    }

    [Fact]
    public async Task APreflightFromAnotherOriginOrForAnotherHeaderGetsNoPermission()
    {
        using var other = await hosts.OneOrigin.SendAsync(Preflight("http://elsewhere.example"));
        Assert.Null(Header(other, "Access-Control-Allow-Origin"));
        // The answer lists the headers that are allowed; the browser refuses to send one that is not listed.
        using var header = await hosts.OneOrigin.SendAsync(Preflight(Allowed, headers: "x-something-else"));
        Assert.DoesNotContain("x-something-else", Header(header, "Access-Control-Allow-Headers") ?? "", StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ErrorsToAnAllowedOriginCarryTheCorsHeadersAndExposeWhatAClientReads()
    {
        var key = $"cors:{Guid.NewGuid():N}";
        using var noKey = new HttpRequestMessage(HttpMethod.Get, $"/state/{key}") { Headers = { { "Origin", Allowed } } };
        using var unauthorized = await hosts.OneOrigin.SendAsync(noKey);
        await unauthorized.AssertProblemAsync(401, ProblemTypes.Unauthorized);
        Assert.Equal(Allowed, Header(unauthorized, "Access-Control-Allow-Origin"));
        Assert.Equal(["Location", "Retry-After", "WWW-Authenticate"], Header(unauthorized, "Access-Control-Expose-Headers")!.Split(','));

        // Answered by the exception handler, which clears the response's headers before it writes.
        using var badLimit = new HttpRequestMessage(HttpMethod.Get, "/state?limit=many")
        {
            Headers = { { "Origin", Allowed }, { "X-Api-Key", "secret" } },
        };
        using var invalid = await hosts.OneOrigin.SendAsync(badLimit);
        await invalid.AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Equal(Allowed, Header(invalid, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task AStarAllowsEveryOriginWithoutCredentials()
    {
        using var preflight = await hosts.AnyOrigin.SendAsync(Preflight("http://anywhere.example"));
        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal("*", Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Null(Header(preflight, "Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task WithoutAllowedOriginsNoAnswerHasCorsHeadersAndOptionsIsNotAMethodOfTheRoutes()
    {
        using var preflight = await hosts.NoOrigin.SendAsync(Preflight(Allowed));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, preflight.StatusCode);
        Assert.DoesNotContain(preflight.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
        using var get = new HttpRequestMessage(HttpMethod.Get, "/health/live") { Headers = { { "Origin", Allowed } } };
        using var answer = await hosts.NoOrigin.SendAsync(get);
        Assert.DoesNotContain(answer.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
    }
}
