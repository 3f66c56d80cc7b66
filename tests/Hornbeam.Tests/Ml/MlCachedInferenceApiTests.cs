using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Ml;

/// <summary>
/// cached_inference over REST: a hook action run on a miss, its result answered from the cache on every later hit, on any
/// replica.
/// </summary>
[Trait("Redis", "Cluster")]
public sealed class MlCachedInferenceApiTests(MlCachedInferenceApiTests.TwoReplicas replicas)
    : IClassFixture<MlCachedInferenceApiTests.TwoReplicas>
{
    private static readonly ConcurrentDictionary<string, int> Runs = new();

    /// <summary>Two hosts on one key prefix with the stand-in model, shared by the class; each test uses inputs of its own.</summary>
    public sealed class TwoReplicas : IAsyncLifetime
    {
        public string Prefix { get; } = TestPrefix.New();
        public HornbeamApiFactory A { get; private set; } = null!;
        public HornbeamApiFactory B { get; private set; } = null!;

        public async Task InitializeAsync() => (A, B) = await StartPairAsync(Prefix);

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }

    private static async Task<(HornbeamApiFactory A, HornbeamApiFactory B)> StartPairAsync(string prefix) =>
        (await HornbeamApiFactory.StartAsync(prefix, configure: h => Register(h, prefix)),
         await HornbeamApiFactory.StartAsync(prefix, configure: h => Register(h, prefix)));

    private readonly string _prefix = replicas.Prefix;
    private readonly HornbeamApiFactory _a = replicas.A, _b = replicas.B;

    // A stand-in model: counts its runs per input, answers the input's length, and answers null for "nothing".
    private static void Register(HornbeamBuilder hornbeam, string prefix) => hornbeam.AddHook("embeddings", async (action, args, _, ct) =>
    {
        var text = args[0].ToString();
        Runs.AddOrUpdate(prefix + action + text, 1, (_, n) => n + 1);
        await Task.Delay(action == "slow_encode" ? 200 : 0, ct);
        return text == "nothing" ? null : new { length = text.Length, action };
    });

    private static int RunsOf(string prefix, string action, string input) => Runs.GetValueOrDefault(prefix + action + input);

    private int RunsOf(string action, string input) => RunsOf(_prefix, action, input);

    private static Task<HttpResponseMessage> Post(HornbeamApiFactory api, string action, object body) =>
        api.CreateClient().PostAsync($"/ml/cached/embeddings/{action}", Http.Json(JsonSerializer.Serialize(body)));

    [Fact]
    public async Task AMissThenAHitOnAnotherReplicaRunsTheHookOnceAndAnswersTheSameJson()
    {
        // The cache's hit and miss counts span its whole key space, so this test has two hosts of its own.
        var prefix = TestPrefix.New();
        var pair = await StartPairAsync(prefix);
        await using var a = pair.A;
        await using var b = pair.B;
        var miss = await (await Post(a, "encode", new { input = "hello world" })).ReadJsonAsync();
        Assert.False(miss.GetProperty("cached").GetBoolean());
        Assert.Equal(11, miss.GetProperty("result").GetProperty("length").GetInt32());
        Assert.StartsWith("ml:", miss.GetProperty("cache_key").GetString());
        Assert.Equal(32, miss.GetProperty("cache_key").GetString()!.Length - 3);

        var hit = await (await Post(b, "encode", new { input = "hello world" })).ReadJsonAsync();
        Assert.True(hit.GetProperty("cached").GetBoolean());
        Assert.Equal(miss.GetProperty("result").GetRawText(), hit.GetProperty("result").GetRawText());
        Assert.Equal(miss.GetProperty("cache_key").GetString(), hit.GetProperty("cache_key").GetString());
        Assert.Equal(1, RunsOf(prefix, "encode", "hello world"));

        var stats = await (await b.CreateClient().GetAsync("/ml/cache/stats?prefix=ml")).ReadJsonAsync();
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
        var responses = await Task.WhenAll(Enumerable.Range(0, 50)
            .Select(i => Post(i % 2 == 0 ? _a : _b, "slow_encode", new { input = "burst" })));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, RunsOf("slow_encode", "burst"));
    }

    [Fact]
    public async Task BadRequestsAndUnknownHooksGetProblems()
    {
        await (await Post(_a, "encode", new { cache_key = "k" })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await Post(_a, "encode", new { input = 1, ttl_seconds = 0 })).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _a.CreateClient().PostAsync("/ml/cached/nohook/encode", Http.Json("{\"input\": 1}")))
            .AssertProblemAsync(404, ProblemTypes.NotFound);
    }
}
