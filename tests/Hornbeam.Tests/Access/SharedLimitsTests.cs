using System.Diagnostics;
using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Access;

/// <summary>
/// Three replicas (one key prefix, real Kestrel) behind a proxy on 127.0.0.1: one key's rate limit and one address's
/// failed attempts are counted once across all of them. X-Forwarded-For stands in for clients at other addresses.
/// </summary>
public sealed class SharedLimitsTests(SharedLimitsTests.Replicas replicas) : IClassFixture<SharedLimitsTests.Replicas>
{
    private const int Permits = 5;
    private const int FailedAttempts = 4;

    [Fact]
    public async Task ABurstThroughThreeReplicasAcceptsNoMoreThanTheKeysLimitPlusOneRefill()
    {
        var clients = replicas.Hosts.Select(h => h.CreateClient()).ToArray();
        var started = Stopwatch.StartNew();
        var responses = await Task.WhenAll(Enumerable.Range(0, 60).Select(i =>
            Send(clients[i % clients.Length], HttpMethod.Get, "/state/limited", "limited-secret")));
        var elapsed = started.Elapsed;

        var accepted = responses.Count(r => r.StatusCode != HttpStatusCode.TooManyRequests);
        Assert.True(accepted >= Permits, $"only {accepted} accepted");
        // In-process budgets would accept the limit once per replica.
        Assert.True(accepted <= Permits + (int)Math.Ceiling(elapsed.TotalSeconds * Permits),
            $"{accepted} accepted in {elapsed.TotalMilliseconds:F0} ms by a key limited to {Permits}/s across the replicas");
        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToArray();
        Assert.NotEmpty(rejected);
        foreach (var response in rejected)
        {
            await response.AssertProblemAsync(429, ProblemTypes.RateLimited);
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "a 429 says when to retry");
        }
        // A key without a limit is not held back by another key's.
        Assert.Equal(HttpStatusCode.NotFound, (await Send(clients[0], HttpMethod.Get, "/state/limited", "open-secret")).StatusCode);
    }

    [Fact]
    public async Task HealthProbesAreNeverRateLimitedEvenWithALimitedKey()
    {
        var client = replicas.Hosts[0].CreateClient();
        // Four times the key's budget within a second: a probe answered 429 would take a healthy replica out of rotation.
        var answers = await Task.WhenAll(Enumerable.Range(0, Permits * 4).Select(i =>
            Send(client, HttpMethod.Get, i % 2 == 0 ? "/health/live" : "/health/ready", "limited-secret")));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
    }

    [Fact]
    public async Task SteadyLoadThroughThreeReplicasIsHeldToTheKeysRate()
    {
        const int rate = 10;
        var window = TimeSpan.FromSeconds(2);
        var started = Stopwatch.StartNew();
        var counts = await Task.WhenAll(replicas.Hosts.Select(async host =>
        {
            using var client = host.CreateClient();
            int sent = 0, accepted = 0;
            while (started.Elapsed < window)
            {
                using var response = await Send(client, HttpMethod.Get, "/state/steady", "steady-secret");
                sent++;
                if (response.StatusCode != HttpStatusCode.TooManyRequests) accepted++;
            }
            return (sent, accepted);
        }));
        var elapsed = started.Elapsed;
        var (total, admitted) = (counts.Sum(c => c.sent), counts.Sum(c => c.accepted));
        Assert.True(admitted <= rate + (int)Math.Ceiling(elapsed.TotalSeconds * rate),
            $"{admitted} of {total} accepted in {elapsed.TotalMilliseconds:F0} ms by a key limited to {rate}/s across the replicas");
        Assert.True(admitted >= Math.Min(total, rate), $"only {admitted} of {total} accepted");
    }

    [Fact]
    public async Task InvalidKeysFromOneAddressGet429AfterTheLimitOnEveryReplicaWhileAnotherAddressIsUnaffected()
    {
        const string guesser = "203.0.113.7", neighbour = "203.0.113.8";
        for (var i = 0; i < FailedAttempts; i++)
        {
            var response = await Send(replicas.Hosts[i % 3].CreateClient(), HttpMethod.Get, "/state/x", $"guess-{i}", guesser);
            await response.AssertProblemAsync(401, ProblemTypes.Unauthorized);
        }

        foreach (var host in replicas.Hosts)
        {
            var refused = await Send(host.CreateClient(), HttpMethod.Get, "/state/x", "guess-again", guesser);
            await refused.AssertProblemAsync(429, ProblemTypes.RateLimited);
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "a 429 says when to retry");
            // Past the limit a right key is refused too (on a new connection), so the answer tells a guesser nothing.
            Assert.Equal(HttpStatusCode.TooManyRequests,
                (await Send(host.CreateClient(), HttpMethod.Get, "/state/x", "open-secret", guesser)).StatusCode);
        }

        await (await Send(replicas.Hosts[0].CreateClient(), HttpMethod.Get, "/state/x", "guess-0", neighbour))
            .AssertProblemAsync(401, ProblemTypes.Unauthorized);
        Assert.Equal(HttpStatusCode.NotFound,
            (await Send(replicas.Hosts[1].CreateClient(), HttpMethod.Get, "/state/x", "open-secret", neighbour)).StatusCode);
    }

    private static async Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string path, string key,
        string? forwardedFor = null)
    {
        using var request = new HttpRequestMessage(method, path) { Headers = { { "X-Api-Key", key } } };
        if (forwardedFor is not null) request.Headers.Add("X-Forwarded-For", forwardedFor);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>Three hosts on one prefix, each behind "the proxy" 127.0.0.1.</summary>
    public sealed class Replicas : IAsyncLifetime
    {
        public HornbeamApiFactory[] Hosts { get; private set; } = [];

        public async Task InitializeAsync()
        {
            var redis = await RedisServer.ConnectionStringAsync();
            var prefix = TestPrefix.New();
            var settings = new Dictionary<string, string?>
            {
                ["Hornbeam:Auth:Enabled"] = "true",
                ["Hornbeam:Auth:FailedAttemptsPerMinute"] = FailedAttempts.ToString(),
                ["Hornbeam:KnownProxies:0"] = "127.0.0.1",
                ["Hornbeam:Auth:Keys:0:Name"] = "limited",
                ["Hornbeam:Auth:Keys:0:Key"] = "limited-secret",
                ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
                ["Hornbeam:Auth:Keys:0:PermitsPerSecond"] = Permits.ToString(),
                ["Hornbeam:Auth:Keys:2:Name"] = "steady",
                ["Hornbeam:Auth:Keys:2:Key"] = "steady-secret",
                ["Hornbeam:Auth:Keys:2:Scopes:0"] = "state:read",
                ["Hornbeam:Auth:Keys:2:PermitsPerSecond"] = "10",
                ["Hornbeam:Auth:Keys:1:Name"] = "open",
                ["Hornbeam:Auth:Keys:1:Key"] = "open-secret",
                ["Hornbeam:Auth:Keys:1:Scopes:0"] = "state:read",
            };
            Hosts = Enumerable.Range(0, 3).Select(_ => new HornbeamApiFactory(redis, prefix, settings)).ToArray();
            foreach (var host in Hosts)
            {
                host.UseKestrel(0);
                host.StartServer();
            }
            foreach (var host in Hosts)
            {
                var client = host.CreateClient();
                await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
                    "a replica is ready");
            }
        }

        public async Task DisposeAsync()
        {
            foreach (var host in Hosts) await host.DisposeAsync();
        }
    }
}
