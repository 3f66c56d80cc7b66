using System.Net;
using System.Text;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Ml;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Ml;

/// <summary>The seed's cached_inference and cache_stats, through Core on several replicas and through REST, on a real Redis.</summary>
[Trait("Redis", "Cluster")]
public sealed class MlCacheTests(MlCacheTests.DefaultHost shared) : IClassFixture<MlCacheTests.DefaultHost>
{
    /// <summary>
    /// Core hosts with default options for the tests that need nothing else, two replicas on one key prefix; each test
    /// caches inputs, keys or prefixes no other test uses, so they do not meet in the shared cache.
    /// </summary>
    public sealed class DefaultHost : IAsyncLifetime
    {
        public CoreHost Host { get; private set; } = null!;

        /// <summary>A second replica of <see cref="Host"/>, on its key prefix.</summary>
        public CoreHost Replica { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var prefix = TestPrefix.New();
            Host = await CoreHost.StartAsync(prefix);
            Replica = await CoreHost.StartAsync(prefix);
        }

        public async Task DisposeAsync()
        {
            await Host.DisposeAsync();
            await Replica.DisposeAsync();
        }
    }

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement;

    /// <summary>An inference function that counts its runs and answers a result derived from the input.</summary>
    private sealed class CountingModel(TimeSpan? delay = null, bool answerNull = false)
    {
        private int _runs;
        public int Runs => Volatile.Read(ref _runs);

        public async Task<JsonElement> Encode(JsonElement input, CancellationToken ct)
        {
            Interlocked.Increment(ref _runs);
            if (delay is { } d) await Task.Delay(d, ct);
            return answerNull
                ? J("null")
                : J($$"""{"embedding": [0.25, 1.50, -3e2], "label": "ünïcode \u2028", "input": {{input.GetRawText()}}}""");
        }
    }

    // Two replicas of their own, for a test that reads the stats of a whole cache prefix or sets an option.
    private static async Task<(CoreHost A, CoreHost B)> TwoReplicasAsync(Action<MlCacheOptions>? configure = null)
    {
        var prefix = TestPrefix.New();
        Action<HornbeamBuilder>? setup = configure is null ? null : b => b.Services.Configure(configure);
        return (await CoreHost.StartAsync(prefix, setup), await CoreHost.StartAsync(prefix, setup));
    }

    [Fact]
    public async Task AMissThenAHitThroughAnotherReplicaRunsTheFunctionOnceAndAnswersTheSameBytes()
    {
        var (a, b) = (shared.Host, shared.Replica);
        var model = new CountingModel();

        var miss = await a.Get<IMlCache>().CachedInferenceAsync(model.Encode, J("\"hello world\""));
        var hit = await b.Get<IMlCache>().CachedInferenceAsync(model.Encode, J("\"hello world\""));

        Assert.False(miss.Cached);
        Assert.True(hit.Cached);
        Assert.Equal(1, model.Runs);
        Assert.Equal(miss.CacheKey, hit.CacheKey);
        Assert.Matches("^ml:[0-9a-f]{32}$", miss.CacheKey);
        Assert.Equal(miss.Json.ToArray(), hit.Json.ToArray());
        Assert.Equal("1.50", hit.Result.GetProperty("embedding")[1].GetRawText());
    }

    [Fact]
    public async Task AnExplicitCacheKeyIsUsedAsGivenAndBelongsToItsPrefix()
    {
        var host = shared.Host;
        var cache = host.Get<IMlCache>();
        var model = new CountingModel();

        var first = await cache.CachedInferenceAsync(model.Encode, J("\"doc one\""), cacheKey: "embed:v2:7");
        var sameKey = await cache.CachedInferenceAsync(model.Encode, J("\"other text\""), cacheKey: "embed:v2:7");
        var otherPrefix = await cache.CachedInferenceAsync(model.Encode, J("\"doc one\""), cacheKey: "embed:v2:7", cachePrefix: "other");

        Assert.Equal("embed:v2:7", first.CacheKey);
        Assert.True(sameKey.Cached);
        Assert.Equal(first.Json.ToArray(), sameKey.Json.ToArray());
        Assert.False(otherPrefix.Cached);
        Assert.Equal(2, model.Runs);
    }

    [Fact]
    public async Task ThePrefixStartsTheDerivedKeyAndSeparatesEntries()
    {
        var host = shared.Host;
        var cache = host.Get<IMlCache>();
        var model = new CountingModel();

        var a = await cache.CachedInferenceAsync(model.Encode, J("[1,2,3]"), cachePrefix: "embed");
        var b = await cache.CachedInferenceAsync(model.Encode, J("[1,2,3]"), cachePrefix: "rank");

        Assert.Equal("embed:" + a.CacheKey.Split(':')[1], a.CacheKey);
        Assert.Equal("rank:" + a.CacheKey.Split(':')[1], b.CacheKey);
        Assert.False(b.Cached);
        Assert.Equal(2, model.Runs);
        Assert.True((await cache.CachedInferenceAsync(model.Encode, J("[1, 2, 3]"), cachePrefix: "rank")).Cached);
    }

    [Fact]
    public async Task EqualInputsWithMembersInAnotherOrderAndNumbersWrittenOtherwiseHit()
    {
        var host = shared.Host;
        var cache = host.Get<IMlCache>();
        var model = new CountingModel();

        var miss = await cache.CachedInferenceAsync(model.Encode, J("""{"text": "hi", "opts": {"top_k": 5, "temp": 0.5, "scale": 1}}"""));
        var hit = await cache.CachedInferenceAsync(model.Encode,
            J("""{ "opts" : { "scale": 1.0, "temp": 5e-1, "top_k": 5 }, "text" : "h\u0069" }"""));
        var other = await cache.CachedInferenceAsync(model.Encode,
            J("""{"text": "hi", "opts": {"top_k": 5, "temp": 0.5, "scale": 1.25}}"""));

        Assert.True(hit.Cached);
        Assert.Equal(miss.CacheKey, hit.CacheKey);
        Assert.False(other.Cached);
        Assert.Equal(2, model.Runs);
    }

    [Theory]
    [InlineData("""{"b": 1, "a": [true, false, null], "A": {}, "é": "", "€": ""}""",
        """{"A":{},"a":[true,false,null],"b":1,"é":"","€":""}""")]
    [InlineData("""[1.0, -0, 1e3, 10E-1, 0.1, 1.5e-7, 1e20, 9007199254740993, 12345678901234567890123]""",
        """[1,0,1000,1,0.1,1.5E-07,1E+20,9007199254740993,1.2345678901234568E+22]""")]
    [InlineData("\"q\\\" b\\\\ \\n \\u0001 \\u00e9 \\ud83d\\ude00 \\u2028 /\"", "\"q\\\" b\\\\ \\n \\u0001 é 😀 \u2028 /\"")]
    [InlineData("""{"\ud83d\ude00": 1, "\uff61": 2}""", """{"😀":1,"｡":2}""")]
    public void TheCanonicalFormSortsMembersByUtf16AndWritesNumbersOneWay(string input, string canonical) =>
        Assert.Equal(canonical, MlCanonicalJson.Write(J(input)));

    [Fact]
    public void AnInputWithADuplicateMemberNameHasNoCanonicalForm()
    {
        var error = Assert.Throws<HornbeamException>(() => MlCanonicalJson.Write(J("""{"a": 1, "a": 2}""")));
        Assert.Equal(HornbeamError.InvalidInput, error.Error);
    }

    [Fact]
    public async Task ANullResultIsNotCached()
    {
        var host = shared.Host;
        var cache = host.Get<IMlCache>();
        var model = new CountingModel(answerNull: true);

        var first = await cache.CachedInferenceAsync(model.Encode, J("\"nothing\""));
        var second = await cache.CachedInferenceAsync(model.Encode, J("\"nothing\""));

        Assert.False(first.Cached);
        Assert.False(second.Cached);
        Assert.Equal("null", Encoding.UTF8.GetString(second.Json.Span));
        Assert.Equal(2, model.Runs);
    }

    [Fact]
    public async Task EntriesExpireAfterTheirTtlOrTheConfiguredDefault()
    {
        // A host of its own: a default ttl of one second.
        await using var host = await CoreHost.StartAsync(
            configure: b => b.Services.Configure<MlCacheOptions>(o => o.DefaultTtlSeconds = 1));
        var cache = host.Get<IMlCache>();
        var given = new CountingModel();
        var byDefault = new CountingModel();
        var kept = new CountingModel();

        await cache.CachedInferenceAsync(given.Encode, J("\"given\""), ttl: TimeSpan.FromSeconds(1));
        await cache.CachedInferenceAsync(byDefault.Encode, J("\"default\""));
        await cache.CachedInferenceAsync(kept.Encode, J("\"kept\""), ttl: TimeSpan.FromHours(1));
        Assert.True((await cache.CachedInferenceAsync(given.Encode, J("\"given\""), ttl: TimeSpan.FromSeconds(1))).Cached);

        await Poll.UntilAsync(
            async () => !(await cache.CachedInferenceAsync(given.Encode, J("\"given\""), ttl: TimeSpan.FromSeconds(1))).Cached,
            TimeSpan.FromSeconds(5), "the entry with a 1 s ttl expires");
        await Poll.UntilAsync(async () => !(await cache.CachedInferenceAsync(byDefault.Encode, J("\"default\""))).Cached,
            TimeSpan.FromSeconds(5), "the entry with the default 1 s ttl expires");
        Assert.Equal(2, given.Runs);
        Assert.Equal(2, byDefault.Runs);
        Assert.True((await cache.CachedInferenceAsync(kept.Encode, J("\"kept\""))).Cached);
    }

    [Fact]
    public async Task StatsCountEveryHitAndMissPerPrefixAndInTotalAcrossReplicas()
    {
        // Hosts of their own: the stats start empty and count this test's calls alone.
        var prefix = TestPrefix.New();
        await using var a = await CoreHost.StartAsync(prefix);
        await using var api = await HornbeamApiFactory.StartAsync(prefix);
        var client = api.CreateClient();

        var empty = await (await client.GetAsync("/ml/cache/stats")).ReadJsonAsync();
        Assert.Equal("""{"hits":0,"misses":0,"total":0,"hit_rate":0,"prefixes":{}}""", empty.GetRawText());

        var cache = a.Get<IMlCache>();
        var model = new CountingModel();
        foreach (var input in new[] { "1", "2", "1", "1", "2" })
            await cache.CachedInferenceAsync(model.Encode, J(input), cachePrefix: "embed");
        await cache.CachedInferenceAsync(model.Encode, J("1"), cachePrefix: "rank");

        var stats = await (await client.GetAsync("/ml/cache/stats")).ReadJsonAsync();
        Assert.Equal(3, stats.GetProperty("hits").GetInt64());
        Assert.Equal(3, stats.GetProperty("misses").GetInt64());
        Assert.Equal(6, stats.GetProperty("total").GetInt64());
        Assert.Equal(0.5, stats.GetProperty("hit_rate").GetDouble());
        Assert.Equal("""{"hits":3,"misses":2,"total":5,"hit_rate":0.6}""", stats.GetProperty("prefixes").GetProperty("embed").GetRawText());
        Assert.Equal("""{"hits":0,"misses":1,"total":1,"hit_rate":0}""", stats.GetProperty("prefixes").GetProperty("rank").GetRawText());

        var rank = await (await client.GetAsync("/ml/cache/stats?prefix=rank")).ReadJsonAsync();
        Assert.Equal(1, rank.GetProperty("total").GetInt64());
        Assert.Equal(["rank"], rank.GetProperty("prefixes").EnumerateObject().Select(p => p.Name));
        var core = await cache.StatsAsync("embed");
        Assert.Equal(new MlCacheStats(3, 2), core.Total);
    }

    [Fact]
    public async Task ClearingAPrefixRemovesOnlyItsEntriesAndSaysHowMany()
    {
        // Hosts of their own: a clear batch of two, and the count of a whole cache prefix's entries.
        var prefix = TestPrefix.New();
        await using var a = await CoreHost.StartAsync(prefix);
        await using var api = await HornbeamApiFactory.StartAsync(prefix,
            new Dictionary<string, string?> { ["Hornbeam:Ml:ClearBatchSize"] = "2" });
        var client = api.CreateClient();
        var cache = a.Get<IMlCache>();
        var model = new CountingModel();
        for (var i = 0; i < 5; i++) await cache.CachedInferenceAsync(model.Encode, J($"{i}"), cachePrefix: "embed");
        await cache.CachedInferenceAsync(model.Encode, J("\"x\""), cacheKey: "explicit", cachePrefix: "embed");
        await cache.CachedInferenceAsync(model.Encode, J("0"), cachePrefix: "rank");

        var cleared = await client.DeleteAsync("/ml/cache?prefix=embed");
        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        Assert.Equal("""{"removed":6}""", (await cleared.ReadJsonAsync()).GetRawText());

        Assert.False((await cache.CachedInferenceAsync(model.Encode, J("3"), cachePrefix: "embed")).Cached);
        Assert.False((await cache.CachedInferenceAsync(model.Encode, J("\"x\""), cacheKey: "explicit", cachePrefix: "embed")).Cached);
        Assert.True((await cache.CachedInferenceAsync(model.Encode, J("0"), cachePrefix: "rank")).Cached);
        Assert.Equal("""{"removed":0}""", (await (await client.DeleteAsync("/ml/cache?prefix=none")).ReadJsonAsync()).GetRawText());
        await (await client.DeleteAsync("/ml/cache")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.DeleteAsync("/ml/cache?prefix=a%7Bb")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task FiftyConcurrentIdenticalMissesOverTwoReplicasRunTheFunctionOnce()
    {
        // Replicas of their own: the stats of the "ml" cache prefix count this test's calls alone.
        var (a, b) = await TwoReplicasAsync();
        await using var _ = a;
        await using var __ = b;
        IMlCache[] replicas = [a.Get<IMlCache>(), b.Get<IMlCache>()];
        var model = new CountingModel(delay: TimeSpan.FromMilliseconds(300));

        var results = await Task.WhenAll(Enumerable.Range(0, 50)
            .Select(i => replicas[i % 2].CachedInferenceAsync(model.Encode, J("""{"q": "same"}"""))));

        Assert.Equal(1, model.Runs);
        Assert.Single(results, r => !r.Cached);
        Assert.Single(results.Select(r => Encoding.UTF8.GetString(r.Json.Span)).Distinct());
        Assert.Equal(new MlCacheStats(49, 1), (await replicas[1].StatsAsync("ml")).Total);
    }

    [Fact]
    public async Task AWaiterWhoseWakeUpIsLostStillFindsTheResultLongBeforeTheLockTimeout()
    {
        // Pub/sub delivers at most once (a subscription not yet live, a reconnect): here the result is stored with no
        // wake-up at all, while another caller's claim would hold the waiter for a minute. A host of its own: that lock timeout.
        var prefix = TestPrefix.New();
        await using var host = await CoreHost.StartAsync(prefix, b => b.Services.Configure<MlCacheOptions>(o => o.LockTimeoutMs = 60_000));
        var keys = host.Get<RedisKeys>();
        var redis = host.Get<IConnectionMultiplexer>();
        await redis.GetDatabase().StringSetAsync(keys.MlLock("ml", "lost"), "another-caller", TimeSpan.FromMinutes(1));
        var model = new CountingModel();

        var waiting = host.Get<IMlCache>().CachedInferenceAsync(model.Encode, J("1"), cacheKey: "lost");
        await Poll.UntilAsync(async () =>
        {
            long subscribed = 0;
            foreach (var server in redis.GetServers())
                subscribed += await server.SubscriptionSubscriberCountAsync(keys.MlDone("ml", "lost"));
            return subscribed > 0;
        }, TimeSpan.FromSeconds(10), "the waiter is subscribed for its wake-up");
        await redis.GetDatabase().StringSetAsync(keys.MlEntry("ml", "lost"), "42");

        var result = await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(result.Cached);
        Assert.Equal("42", Encoding.UTF8.GetString(result.Json.Span));
        Assert.Equal(0, model.Runs);
    }

    [Fact]
    public async Task AWaiterComputesItselfWhenTheOtherComputationOutlastsTheLockTimeout()
    {
        // Replicas of their own: a lock timeout of 300 ms.
        var (a, b) = await TwoReplicasAsync(o => o.LockTimeoutMs = 300);
        await using var _ = a;
        await using var __ = b;
        var release = new TaskCompletionSource();
        var runs = 0;
        async Task<JsonElement> Slow(JsonElement input, CancellationToken ct)
        {
            if (Interlocked.Increment(ref runs) == 1) await release.Task;
            return J("\"done\"");
        }

        var stuck = a.Get<IMlCache>().CachedInferenceAsync(Slow, J("\"slow\""));
        await Poll.UntilAsync(() => Task.FromResult(Volatile.Read(ref runs) == 1), because: "the first caller is computing");
        var waiter = await b.Get<IMlCache>().CachedInferenceAsync(Slow, J("\"slow\""));
        release.SetResult();
        await stuck;

        Assert.False(waiter.Cached);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task AFailedComputationLetsTheNextCallerComputeAtOnce()
    {
        // A host of its own: a lock timeout far longer than the test's bound.
        await using var host = await CoreHost.StartAsync(
            configure: b => b.Services.Configure<MlCacheOptions>(o => o.LockTimeoutMs = 20_000));
        var cache = host.Get<IMlCache>();
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            cache.CachedInferenceAsync((_, _) => throw new InvalidOperationException("model not loaded"), J("\"x\"")));

        var started = DateTime.UtcNow;
        var next = await cache.CachedInferenceAsync((_, _) => Task.FromResult(J("42")), J("\"x\""));
        Assert.False(next.Cached);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "the failed caller's claim was released, not left to expire");
    }

    private sealed record Query(string Text, int TopK);
    private sealed record Ranked(string[] Ids, double Score);

    [Fact]
    public async Task CSharpCallersCacheTypedResults()
    {
        var host = shared.Host;
        var cache = host.Get<IMlCache>();
        var runs = 0;
        Task<Ranked> Rank(Query q) { Interlocked.Increment(ref runs); return Task.FromResult(new Ranked([q.Text, "b"], 0.75)); }

        var miss = await cache.CachedInferenceAsync<Query, Ranked>(Rank, new Query("a", 2), cachePrefix: "rank");
        var hit = await cache.CachedInferenceAsync<Query, Ranked>(Rank, new Query("a", 2), cachePrefix: "rank");

        Assert.False(miss.Cached);
        Assert.True(hit.Cached);
        Assert.Equal(["a", "b"], hit.Result!.Ids);
        Assert.Equal(0.75, hit.Result.Score);
        Assert.Equal(1, runs);
        Assert.Equal(MlCanonicalJson.CacheKey("rank", JsonSerializer.SerializeToElement(new Query("a", 2))), hit.CacheKey);
    }

    [Fact]
    public async Task TheCacheWorksOnTheEmbeddedStore()
    {
        // A host of its own: the embedded store, with no connection string.
        await using var api = new HornbeamApiFactory(null, TestPrefix.New(),
            new Dictionary<string, string?> { ["Hornbeam:Ml:DefaultTtlSeconds"] = "60" });
        var cache = api.Services.GetRequiredService<IMlCache>();
        var model = new CountingModel(delay: TimeSpan.FromMilliseconds(100));

        // One call first: Garnet compiles its Lua engine on the first script, which can outlast a command timeout on a busy machine.
        Assert.False((await cache.CachedInferenceAsync(model.Encode, J("\"warm\""))).Cached);
        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => cache.CachedInferenceAsync(model.Encode, J("\"garnet\""))));
        Assert.Equal(2, model.Runs);
        Assert.Equal(9, results.Count(r => r.Cached));

        var client = api.CreateClient();
        var stats = await (await client.GetAsync("/ml/cache/stats")).ReadJsonAsync();
        Assert.Equal(11, stats.GetProperty("total").GetInt64());
        Assert.Equal("""{"removed":2}""", (await (await client.DeleteAsync("/ml/cache?prefix=ml")).ReadJsonAsync()).GetRawText());
    }

    [Theory]
    [InlineData("")]
    [InlineData("a{b}")]
    public async Task AnEmptyOrBracedPrefixIsRefused(string prefix)
    {
        var host = shared.Host;
        var error = await Assert.ThrowsAsync<HornbeamException>(() =>
            host.Get<IMlCache>().CachedInferenceAsync((i, _) => Task.FromResult(i), J("1"), cachePrefix: prefix));
        Assert.Equal(HornbeamError.InvalidInput, error.Error);
    }
}
