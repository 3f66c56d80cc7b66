using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Ml;

/// <summary>cached_inference over REST: a hook action run on a miss, its result answered from the cache on every later hit, on any replica.</summary>
[Trait("Redis", "Cluster")]
public sealed class MlCachedInferenceApiTests : IAsyncLifetime
{
    private static readonly ConcurrentDictionary<string, int> Runs = new();
    private readonly string _prefix = TestPrefix.New();
    private HornbeamApiFactory _a = null!, _b = null!;

    public async Task InitializeAsync()
    {
        _a = await HornbeamApiFactory.StartAsync(_prefix, configure: Register);
        _b = await HornbeamApiFactory.StartAsync(_prefix, configure: Register);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    // A stand-in model: counts its runs per input, answers the input's length, and answers null for "nothing".
    private void Register(HornbeamBuilder hornbeam) => hornbeam.AddHook("embeddings", async (action, args, _, ct) =>
    {
        var text = args[0].ToString();
        Runs.AddOrUpdate(_prefix + action + text, 1, (_, n) => n + 1);
        await Task.Delay(action == "slow_encode" ? 200 : 0, ct);
        return text == "nothing" ? null : new { length = text.Length, action };
    });

    private int RunsOf(string action, string input) => Runs.GetValueOrDefault(_prefix + action + input);

    private static Task<HttpResponseMessage> Post(HornbeamApiFactory api, string action, object body) =>
        api.CreateClient().PostAsync($"/ml/cached/embeddings/{action}", Http.Json(JsonSerializer.Serialize(body)));

    [Fact]
    public async Task AMissThenAHitOnAnotherReplicaRunsTheHookOnceAndAnswersTheSameJson()
    {
        var miss = await (await Post(_a, "encode", new { input = "hello world" })).ReadJsonAsync();
        Assert.False(miss.GetProperty("cached").GetBoolean());
        Assert.Equal(11, miss.GetProperty("result").GetProperty("length").GetInt32());
        Assert.StartsWith("ml:", miss.GetProperty("cache_key").GetString());
        Assert.Equal(32, miss.GetProperty("cache_key").GetString()!.Length - 3);

        var hit = await (await Post(_b, "encode", new { input = "hello world" })).ReadJsonAsync();
        Assert.True(hit.GetProperty("cached").GetBoolean());
        Assert.Equal(miss.GetProperty("result").GetRawText(), hit.GetProperty("result").GetRawText());
        Assert.Equal(miss.GetProperty("cache_key").GetString(), hit.GetProperty("cache_key").GetString());
        Assert.Equal(1, RunsOf("encode", "hello world"));

        var stats = await (await _b.CreateClient().GetAsync("/ml/cache/stats?prefix=ml")).ReadJsonAsync();
        Assert.Equal(1, stats.GetProperty("hits").GetInt64());
        Assert.Equal(1, stats.GetProperty("misses").GetInt64());
    }

    [Fact]
    public async Task TheSameObjectWithMembersInAnotherOrderHits()
    {
        var first = await (await Post(_a, "encode", new { input = new { a = 1, b = new[] { 1, 2 } } })).ReadJsonAsync();
        var second = await (await _b.CreateClient().PostAsync("/ml/cached/embeddings/encode",
            Http.Json("{\"input\": {\"b\": [1, 2], \"a\": 1.0}}"))).ReadJsonAsync();
        Assert.True(second.GetProperty("cached").GetBoolean());
        Assert.Equal(first.GetProperty("cache_key").GetString(), second.GetProperty("cache_key").GetString());
    }

    [Fact]
    public async Task AnExplicitKeyAndPrefixAreUsedAsGiven()
    {
        var body = new { input = "doc text", cache_key = "embed:v2:doc-7", cache_prefix = "emb" };
        var miss = await (await Post(_a, "encode", body)).ReadJsonAsync();
        Assert.Equal("embed:v2:doc-7", miss.GetProperty("cache_key").GetString());
        Assert.True((await (await Post(_b, "encode", body)).ReadJsonAsync()).GetProperty("cached").GetBoolean());
        var cleared = await (await _a.CreateClient().DeleteAsync("/ml/cache?prefix=emb")).ReadJsonAsync();
        Assert.Equal(1, cleared.GetProperty("removed").GetInt64());
        Assert.False((await (await Post(_b, "encode", body)).ReadJsonAsync()).GetProperty("cached").GetBoolean());
    }

    [Fact]
    public async Task ANullResultIsNotCached()
    {
        Assert.False((await (await Post(_a, "encode", new { input = "nothing" })).ReadJsonAsync()).GetProperty("cached").GetBoolean());
        Assert.False((await (await Post(_b, "encode", new { input = "nothing" })).ReadJsonAsync()).GetProperty("cached").GetBoolean());
        Assert.Equal(2, RunsOf("encode", "nothing"));
    }

    [Fact]
    public async Task FiftyConcurrentIdenticalMissesOverTwoReplicasRunTheHookOnce()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Post(i % 2 == 0 ? _a : _b, "slow_encode", new { input = "burst" })));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, RunsOf("slow_encode", "burst"));
    }

    [Fact]
    public async Task BadRequestsAndUnknownHooksGetProblems()
    {
        await (await Post(_a, "encode", new { cache_key = "k" })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "encode", new { input = 1, ttl_seconds = 0 })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _a.CreateClient().PostAsync("/ml/cached/nohook/encode", Http.Json("{\"input\": 1}"))).AssertProblemAsync(404, ProblemTypes.NotFound);
    }
}
