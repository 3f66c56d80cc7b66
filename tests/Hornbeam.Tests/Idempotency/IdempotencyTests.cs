using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Idempotency;

/// <summary>A POST repeated with the same Idempotency-Key applies once, whichever replica each attempt reaches.</summary>
[Trait("Redis", "Cluster")]
public sealed class IdempotencyTests(IdempotencyTests.TwoReplicas replicas) : IClassFixture<IdempotencyTests.TwoReplicas>
{
    /// <summary>Two hosts on one key prefix, as two replicas behind a load balancer.</summary>
    public sealed class TwoReplicas : IAsyncLifetime
    {
        public HttpClient A { get; private set; } = null!;
        public HttpClient B { get; private set; } = null!;
        private HornbeamApiFactory _a = null!, _b = null!;

        /// <summary>How often the <c>once/run</c> hook ran, per first argument; it fails when asked to and answers its count.</summary>
        public static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> Runs = new();

        public async Task InitializeAsync()
        {
            var prefix = TestPrefix.New();
            // Only replica A runs the hook, so a call through B reaches it by RPC, as across machines.
            _a = await HornbeamApiFactory.StartAsync(prefix, configure: b => b.AddHook("once", (action, args, _) =>
            {
                var runs = Runs.AddOrUpdate(args[0].GetString()!, 1, (_, n) => n + 1);
                if (action == "fail") throw new InvalidOperationException("the handler failed after its effect");
                return runs;
            }));
            _b = await HornbeamApiFactory.StartAsync(prefix);
            A = _a.CreateClient();
            B = _b.CreateClient();
        }

        public async Task DisposeAsync()
        {
            await _a.DisposeAsync();
            await _b.DisposeAsync();
        }
    }

    private static HttpRequestMessage Post(string url, string key, HttpContent? body = null, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = body };
        request.Headers.Add("Idempotency-Key", key);
        if (apiKey is not null) request.Headers.Add("X-Api-Key", apiKey);
        return request;
    }

    private static string NewKey() => Guid.NewGuid().ToString();

    private static async Task<long> ValueAsync(HttpResponseMessage response)
    {
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.ReadJsonAsync()).GetProperty("value").GetInt64();
    }

    [Fact]
    public async Task AnIncrementRepeatedOnAnotherReplicaWithTheSameKeyAppliesOnceAndAnswersTheFirstValue()
    {
        var counter = $"once:{Guid.NewGuid():N}";
        var key = NewKey();
        var first = await ValueAsync(await replicas.A.SendAsync(Post($"/state/incr/{counter}?delta=5", key)));
        var again = await ValueAsync(await replicas.B.SendAsync(Post($"/state/incr/{counter}?delta=5", key)));
        Assert.Equal(5, first);
        Assert.Equal(first, again);
        Assert.Equal(5, (await (await replicas.A.GetAsync($"/state/{counter}")).ReadJsonAsync()).GetProperty("value").GetInt64());
        Assert.Equal(12, await ValueAsync(await replicas.B.SendAsync(Post($"/state/incr/{counter}?delta=7", NewKey()))));
    }

    [Fact]
    public async Task ConcurrentRepeatsOfOneDecrementOnTwoReplicasApplyOnceAndAllAnswerTheSameValue()
    {
        var counter = $"once:{Guid.NewGuid():N}";
        var key = NewKey();
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            (i % 2 == 0 ? replicas.A : replicas.B).SendAsync(Post($"/state/decr/{counter}?delta=3", key))));
        var values = await Task.WhenAll(answers.Select(ValueAsync));
        Assert.All(values, v => Assert.Equal(-3, v));
        Assert.Equal(-3, (await (await replicas.B.GetAsync($"/state/{counter}")).ReadJsonAsync()).GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task TheSameKeyForADifferentRequestIsRefusedWith422AndChangesNothing()
    {
        var counter = $"once:{Guid.NewGuid():N}";
        var key = NewKey();
        await ValueAsync(await replicas.A.SendAsync(Post($"/state/incr/{counter}", key)));
        var other = await replicas.B.SendAsync(Post($"/state/incr/{counter}?delta=2", key));
        await other.AssertProblemAsync(422, HornbeamErrors.Type(HornbeamError.IdempotencyKeyReused));
        Assert.Equal(1, (await (await replicas.A.GetAsync($"/state/{counter}")).ReadJsonAsync()).GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task KeysAreKeptApartPerCredential()
    {
        var counter = $"once:{Guid.NewGuid():N}";
        var key = NewKey();
        Assert.Equal(1, await ValueAsync(await replicas.A.SendAsync(Post($"/state/incr/{counter}", key, apiKey: "alice"))));
        Assert.Equal(2, await ValueAsync(await replicas.A.SendAsync(Post($"/state/incr/{counter}", key, apiKey: "bob"))));
        Assert.Equal(1, await ValueAsync(await replicas.B.SendAsync(Post($"/state/incr/{counter}", key, apiKey: "alice"))));
    }

    [Fact]
    public async Task AnIncrementOnTextWithAKeyIsAConflictThatRecordsNothing()
    {
        var counter = $"once:{Guid.NewGuid():N}";
        await replicas.A.PutAsync($"/state/{counter}", Http.Json("\"text\""));
        var key = NewKey();
        await (await replicas.A.SendAsync(Post($"/state/incr/{counter}", key))).AssertProblemAsync(409, ProblemTypes.Conflict);
        await replicas.A.PutAsync($"/state/{counter}", Http.Json("10"));
        Assert.Equal(11, await ValueAsync(await replicas.B.SendAsync(Post($"/state/incr/{counter}", key))));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("é")]
    public async Task AnUnusableKeyIsRefusedWith400(string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/state/incr/once:{Guid.NewGuid():N}");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        await (await replicas.A.SendAsync(request)).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task AKeyLongerThan255CharactersIsRefusedWith400()
    {
        var response = await replicas.A.SendAsync(Post($"/state/incr/once:{Guid.NewGuid():N}", new string('k', 256)));
        await response.AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task APublishRepeatedWithTheSameKeyIsSentOnceAndAnswersTheFirstAnswer()
    {
        var topic = $"once:{Guid.NewGuid():N}";
        var key = NewKey();
        var first = await replicas.A.SendAsync(Post($"/pubsub/{topic}", key, Http.Json("{\"n\":1}")));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var again = await replicas.B.SendAsync(Post($"/pubsub/{topic}", key, Http.Json("{\"n\":1}")));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
        var next = await (await replicas.B.SendAsync(Post($"/pubsub/{topic}", NewKey(), Http.Json("{\"n\":2}")))).ReadJsonAsync();
        Assert.Equal((await first.ReadJsonAsync()).GetProperty("id").GetInt64() + 1, next.GetProperty("id").GetInt64());

        var changed = await replicas.B.SendAsync(Post($"/pubsub/{topic}", key, Http.Json("{\"n\":3}")));
        await changed.AssertProblemAsync(422, HornbeamErrors.Type(HornbeamError.IdempotencyKeyReused));
    }

    [Fact]
    public async Task APublishRefusedAsBadInputFreesItsKeyForTheCorrectedRequest()
    {
        var topic = $"once:{Guid.NewGuid():N}";
        var key = NewKey();
        await (await replicas.A.SendAsync(Post($"/pubsub/{topic}", key, Http.Json("{not json"))))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        // Nothing was published, so the key is free again for the corrected request.
        var corrected = await replicas.B.SendAsync(Post($"/pubsub/{topic}", key, Http.Json("{\"ok\":true}")));
        Assert.Equal(HttpStatusCode.OK, corrected.StatusCode);
        var again = await replicas.A.SendAsync(Post($"/pubsub/{topic}", key, Http.Json("{\"ok\":true}")));
        Assert.Equal(await corrected.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AHookCallRepeatedOnAnotherReplicaRunsOnceAndAnswersTheFirstResult()
    {
        var id = Guid.NewGuid().ToString("N");
        var key = NewKey();
        var body = $"{{\"args\": [\"{id}\"]}}";
        var first = await replicas.B.SendAsync(Post("/hooks/once/run", key, Http.Json(body)));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var again = await replicas.A.SendAsync(Post("/hooks/once/run", key, Http.Json(body)));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
        Assert.Equal(1, TwoReplicas.Runs[id]);
    }

    [Fact]
    public async Task AHookThatFailedAfterRunningIsNotRunAgainByARetryWithItsKey()
    {
        var id = Guid.NewGuid().ToString("N");
        var key = NewKey();
        var body = $"{{\"args\": [\"{id}\"]}}";
        var first = await replicas.A.SendAsync(Post("/hooks/once/fail", key, Http.Json(body)));
        var firstProblem = await first.AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        var again = await replicas.B.SendAsync(Post("/hooks/once/fail", key, Http.Json(body)));
        var againProblem = await again.AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        Assert.Equal(firstProblem.GetProperty("detail").GetString(), againProblem.GetProperty("detail").GetString());
        Assert.Equal(1, TwoReplicas.Runs[id]);
    }

    [Fact]
    public async Task ATaskStartedTwiceWithOneKeyIsOneTask()
    {
        var id = Guid.NewGuid().ToString("N");
        var key = NewKey();
        var body = $"{{\"args\": [\"{id}\"]}}";
        var first = await replicas.A.SendAsync(Post("/hooks/once/run/async", key, Http.Json(body)));
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var again = await replicas.B.SendAsync(Post("/hooks/once/run/async", key, Http.Json(body)));
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(first.Headers.Location, again.Headers.Location);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
        await Poll.UntilAsync(async () => (await replicas.B.GetAsync(first.Headers.Location!.ToString())).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20), "the task finishes");
        Assert.Equal(1, TwoReplicas.Runs[id]);
    }
}
