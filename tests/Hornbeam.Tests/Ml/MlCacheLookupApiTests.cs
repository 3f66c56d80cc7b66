using System.Text;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Ml;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Ml;

/// <summary>
/// cached_inference of a function the caller runs itself (a Python process): POST /ml/cache/lookup answers a hit or a
/// claim, the claimant stores or releases, and other callers wait for it, on the same entries and counters as IMlCache.
/// </summary>
[Trait("Redis", "Cluster")]
public sealed class MlCacheLookupApiTests(MlCacheLookupApiTests.TwoReplicas replicas) : IClassFixture<MlCacheLookupApiTests.TwoReplicas>
{
    /// <summary>Two hosts on one key prefix, shared by the class; each test uses cache prefixes of its own.</summary>
    public sealed class TwoReplicas : IAsyncLifetime
    {
        public HornbeamApiFactory A { get; private set; } = null!;
        public HornbeamApiFactory B { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var prefix = TestPrefix.New();
            (A, B) = (await HornbeamApiFactory.StartAsync(prefix), await HornbeamApiFactory.StartAsync(prefix));
        }

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }

    private readonly HornbeamApiFactory _a = replicas.A, _b = replicas.B;

    private static string NewPrefix() => $"p{Guid.NewGuid():N}";

    private static async Task<HttpResponseMessage> Post(HornbeamApiFactory api, string route, object body) =>
        await api.CreateClient().PostAsync($"/ml/cache/{route}", Http.Json(JsonSerializer.Serialize(body)));

    private static async Task<JsonElement> Ok(Task<HttpResponseMessage> response)
    {
        var answer = await response;
        var body = await answer.ReadJsonAsync();
        Assert.True(answer.IsSuccessStatusCode, $"{(int)answer.StatusCode}: {body}");
        return body;
    }

    private static Task<JsonElement> Lookup(HornbeamApiFactory api, object body) => Ok(Post(api, "lookup", body));

    private static async Task<MlCacheStats> StatsAsync(HornbeamApiFactory api, string prefix) =>
        (await api.Services.GetRequiredService<IMlCache>().StatsAsync(prefix)).Total;

    // The replica's waiter subscribes to the key's channel before it waits, so a subscriber there means it is waiting.
    private static Task WaitingAsync(HornbeamApiFactory api, string prefix, string cacheKey)
    {
        var keys = api.Services.GetRequiredService<RedisKeys>();
        var redis = api.Services.GetRequiredService<IConnectionMultiplexer>();
        return Poll.UntilAsync(async () =>
        {
            long subscribed = 0;
            foreach (var server in redis.GetServers())
                subscribed += await server.SubscriptionSubscriberCountAsync(keys.MlDone(prefix, cacheKey));
            return subscribed > 0;
        }, TimeSpan.FromSeconds(10), "the second caller waits for the first one's result");
    }

    [Fact]
    public async Task AMissClaimsTheKeyAndAfterTheStoreEveryReplicaHitsAndBothAreCounted()
    {
        var prefix = NewPrefix();
        var miss = await Lookup(_a, new { input = new { text = "hello", n = 1.0 }, cache_prefix = prefix });
        Assert.False(miss.GetProperty("cached").GetBoolean());
        var key = miss.GetProperty("cache_key").GetString()!;
        Assert.Equal(MlCanonicalJson.CacheKey(prefix, JsonDocument.Parse("""{"n": 1, "text": "hello"}""").RootElement), key);
        Assert.Equal(30_000, miss.GetProperty("lease_ms").GetInt64());
        Assert.False(miss.TryGetProperty("result", out _));

        var stored = await Ok(Post(_a, "store", new
        {
            cache_key = key,
            cache_prefix = prefix,
            claim = miss.GetProperty("claim").GetString(),
            result = new[] { 0.5, 2.0 },
        }));
        Assert.True(stored.GetProperty("claim_held").GetBoolean());

        // The key the lookup answered, sent back as an explicit key, is the same entry.
        var hit = await Lookup(_b, new { cache_key = key, cache_prefix = prefix });
        Assert.True(hit.GetProperty("cached").GetBoolean());
        Assert.Equal("[0.5,2]", hit.GetProperty("result").GetRawText());
        Assert.False(hit.TryGetProperty("claim", out _));
        Assert.Equal(new MlCacheStats(1, 1), await StatsAsync(_b, prefix));
        var stats = await (await _a.CreateClient().GetAsync($"/ml/cache/stats?prefix={prefix}")).ReadJsonAsync();
        Assert.Equal(0.5, stats.GetProperty("hit_rate").GetDouble());
    }

    [Fact]
    public async Task ALookupWhileAnotherCallerHoldsTheClaimWaitsForItsResult()
    {
        var prefix = NewPrefix();
        var first = await Lookup(_a, new { cache_key = "k", cache_prefix = prefix });
        var second = Lookup(_b, new { cache_key = "k", cache_prefix = prefix });
        await WaitingAsync(_b, prefix, "k");
        Assert.False(second.IsCompleted);

        await Ok(Post(_a, "store", new
        {
            cache_key = "k",
            cache_prefix = prefix,
            claim = first.GetProperty("claim").GetString(),
            result = "computed once"
        }));
        var answer = await second.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(answer.GetProperty("cached").GetBoolean());
        Assert.Equal("computed once", answer.GetProperty("result").GetString());
        Assert.Equal(new MlCacheStats(1, 1), await StatsAsync(_a, prefix));
    }

    [Fact]
    public async Task AReleasedClaimPassesAtOnceToTheCallerWaitingForIt()
    {
        var prefix = NewPrefix();
        var first = await Lookup(_a, new { cache_key = "k", cache_prefix = prefix });
        var claim = first.GetProperty("claim").GetString();
        var second = Lookup(_b, new { cache_key = "k", cache_prefix = prefix });
        await WaitingAsync(_b, prefix, "k");

        var released = await Ok(Post(_a, "release", new { cache_key = "k", cache_prefix = prefix, claim }));
        Assert.True(released.GetProperty("released").GetBoolean());
        // Well within the 30 s lease: the release woke the waiter, which claimed the key.
        var answer = await second.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(answer.GetProperty("cached").GetBoolean());
        Assert.NotEqual(claim, answer.GetProperty("claim").GetString());
        Assert.Equal(new MlCacheStats(0, 2), await StatsAsync(_a, prefix));

        // Releasing again, or a claim that is not the caller's, leaves the new claimant's claim alone.
        Assert.False((await Ok(Post(_a, "release", new { cache_key = "k", cache_prefix = prefix, claim })))
            .GetProperty("released").GetBoolean());
        Assert.True((await Ok(Post(_b, "release", new
        {
            cache_key = "k",
            cache_prefix = prefix,
            claim = answer.GetProperty("claim").GetString()
        }))).GetProperty("released").GetBoolean());
    }

    [Fact]
    public async Task TheClaimOfACallerThatDiedEndsWithItsLeaseAndItsLateStoreIsStillCached()
    {
        // A host of its own: a lease of 500 ms.
        await using var host = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:Ml:LockTimeoutMs"] = "500",
        });
        var prefix = NewPrefix();
        var dead = await Lookup(host, new { cache_key = "k", cache_prefix = prefix });
        Assert.Equal(500, dead.GetProperty("lease_ms").GetInt64());

        // The first caller never stores nor releases: the next one gets the key once the lease has run out.
        var next = await Lookup(host, new { cache_key = "k", cache_prefix = prefix });
        Assert.False(next.GetProperty("cached").GetBoolean());
        Assert.NotNull(next.GetProperty("claim").GetString());

        // The first caller's late store is cached (a result for a key is the same whoever computed it), and says it had
        // lost its claim, which stays the new claimant's.
        var late = await Ok(Post(host, "store", new
        {
            cache_key = "k",
            cache_prefix = prefix,
            claim = dead.GetProperty("claim").GetString(),
            result = 7
        }));
        Assert.False(late.GetProperty("claim_held").GetBoolean());
        Assert.True((await Ok(Post(host, "release", new
        {
            cache_key = "k",
            cache_prefix = prefix,
            claim = next.GetProperty("claim").GetString()
        }))).GetProperty("released").GetBoolean());
        Assert.Equal("7", (await Lookup(host, new { cache_key = "k", cache_prefix = prefix })).GetProperty("result").GetRawText());
    }

    [Fact]
    public async Task EntriesCachedOverRestAndThroughIMlCacheAreTheSameEntries()
    {
        var prefix = NewPrefix();
        var cache = _a.Services.GetRequiredService<IMlCache>();
        var input = JsonDocument.Parse("""{"doc": "ünïcode", "v": [1, 2.5]}""").RootElement;
        var runs = 0;
        Task<JsonElement> Model(JsonElement value, CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            return Task.FromResult(JsonDocument.Parse("""{"label": "from C#"}""").RootElement);
        }

        var computed = await cache.CachedInferenceAsync(Model, input, cachePrefix: prefix);
        var hit = await Lookup(_b, new { input = new { v = new[] { 1.0, 2.5 }, doc = "ünïcode" }, cache_prefix = prefix });
        Assert.True(hit.GetProperty("cached").GetBoolean());
        Assert.Equal(computed.CacheKey, hit.GetProperty("cache_key").GetString());
        Assert.Equal(Encoding.UTF8.GetString(computed.Json.Span), hit.GetProperty("result").GetRawText());

        // The other way round: stored over REST, a hit for C# without running the function.
        var miss = await Lookup(_b, new { input = "from REST", cache_prefix = prefix });
        await Ok(Post(_b, "store", new
        {
            cache_key = miss.GetProperty("cache_key").GetString(),
            cache_prefix = prefix,
            claim = miss.GetProperty("claim").GetString(),
            result = new { label = "from Python" },
            ttl_seconds = 60
        }));
        var cached = await cache.CachedInferenceAsync(Model, JsonDocument.Parse("\"from REST\"").RootElement, cachePrefix: prefix);
        Assert.True(cached.Cached);
        Assert.Equal("""{"label":"from Python"}""", Encoding.UTF8.GetString(cached.Json.Span));
        Assert.Equal(1, runs);
        Assert.Equal(new MlCacheStats(2, 2), await StatsAsync(_a, prefix));
    }

    [Fact]
    public async Task BadLookupsStoresAndReleasesGetProblems()
    {
        var prefix = NewPrefix();
        await (await Post(_a, "lookup", new { cache_prefix = prefix })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "lookup", new { cache_key = "" })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "lookup", new { input = 1, cache_prefix = "a{b}" })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _a.CreateClient().PostAsync("/ml/cache/lookup", Http.Json("""{"input": {"a": 1, "a": 2}}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _a.CreateClient().PostAsync("/ml/cache/lookup", Http.Json("[1]")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);

        await (await Post(_a, "store", new { cache_key = "k", cache_prefix = prefix })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _a.CreateClient().PostAsync("/ml/cache/store", Http.Json("""{"cache_key": "k", "result": null}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "store", new { result = 1 })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "store", new { cache_key = "k", cache_prefix = prefix, result = 1, ttl_seconds = 0 }))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);

        await (await Post(_a, "release", new { cache_key = "k" })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "release", new { cache_key = "k", claim = "" })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        // Nothing of it was stored or counted.
        Assert.Equal(new MlCacheStats(0, 0), await StatsAsync(_a, prefix));
    }
}
