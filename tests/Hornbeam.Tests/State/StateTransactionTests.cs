using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>POST /state/transaction (all operations or none, keys of one hash slot) and POST /state/bulk (each key on its own).</summary>
[Trait("Redis", "Cluster")]
public sealed class StateTransactionTests(ApiHost host) : IClassFixture<ApiHost>
{
    private readonly HttpClient _client = host.Client;
    private readonly string _id = Guid.NewGuid().ToString("N")[..12];

    // Keys under one hash tag, so they share a slot.
    private string K(string key) => $"{{cart:{_id}}}:{key}";

    private Task<HttpResponseMessage> TransactAsync(string operations) =>
        _client.PostAsync("/state/transaction", Http.Json($"{{\"operations\": {operations}}}"));

    private async Task<string?> ValueAsync(string key)
    {
        var response = await _client.GetAsync($"/state/{Uri.EscapeDataString(key)}");
        return response.StatusCode == HttpStatusCode.NotFound ? null : (await response.ReadJsonAsync()).GetProperty("value").GetRawText();
    }

    private async Task<string> ETagAsync(string key) =>
        (await _client.GetAsync($"/state/{Uri.EscapeDataString(key)}")).Headers.ETag!.ToString();

    [Fact]
    public async Task ATransactionRepeatedWithItsIdempotencyKeyAppliesOnceAndAnswersTheFirstAnswerAgain()
    {
        var once = Guid.NewGuid().ToString("N");
        var body = $$"""{"operations": [{"op": "incr", "key": "{{K("once")}}", "delta": 5}]}""";
        async Task<string> SendAsync()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/state/transaction") { Content = Http.Json(body) };
            request.Headers.Add("Idempotency-Key", once);
            var response = await _client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadAsStringAsync();
        }
        var first = await SendAsync();
        Assert.Equal(first, await SendAsync());
        Assert.Equal("5", await ValueAsync(K("once")));
    }

    [Fact]
    public async Task AllOperationsApplyInOrderAndEachAnswersItsResult()
    {
        await _client.PutAsync($"/state/{Uri.EscapeDataString(K("b"))}", Http.Json("true"));
        await _client.PutAsync($"/state/{Uri.EscapeDataString(K("c"))}", Http.Json("40"));
        var tag = await ETagAsync(K("c"));

        var response = await TransactAsync($$$"""
            [{"op": "set", "key": "{{{K("a")}}}", "value": {"x": 1}},
             {"op": "delete", "key": "{{{K("b")}}}"},
             {"op": "incr", "key": "{{{K("c")}}}", "delta": 2, "if_match": {{{JsonSerializer.Serialize(tag)}}} },
             {"op": "incr", "key": "{{{K("c")}}}"}]
            """);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.ReadJsonAsync()).GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(4, results.Length);
        Assert.Equal(K("a"), results[0].GetProperty("key").GetString());
        Assert.Equal(await ETagAsync(K("a")), results[0].GetProperty("etag").GetString());
        Assert.False(results[1].TryGetProperty("etag", out _));
        Assert.Equal(42, results[2].GetProperty("value").GetInt64());
        Assert.Equal(43, results[3].GetProperty("value").GetInt64());
        Assert.Equal(await ETagAsync(K("c")), results[3].GetProperty("etag").GetString());

        Assert.Equal("{\"x\":1}", await ValueAsync(K("a")));
        Assert.Null(await ValueAsync(K("b")));
        Assert.Equal("43", await ValueAsync(K("c")));
    }

    [Fact]
    public async Task AFailedIfMatchLeavesEveryKeyUnchanged()
    {
        await _client.PutAsync($"/state/{Uri.EscapeDataString(K("a"))}", Http.Json("1"));
        await _client.PutAsync($"/state/{Uri.EscapeDataString(K("b"))}", Http.Json("2"));
        var stale = await ETagAsync(K("b"));
        await _client.PutAsync($"/state/{Uri.EscapeDataString(K("b"))}", Http.Json("3"));

        var response = await TransactAsync($$$"""
            [{"op": "set", "key": "{{{K("a")}}}", "value": 10, "ttl_seconds": 60},
             {"op": "incr", "key": "{{{K("n")}}}", "delta": 5},
             {"op": "delete", "key": "{{{K("a")}}}"},
             {"op": "set", "key": "{{{K("b")}}}", "value": 20, "if_match": {{{JsonSerializer.Serialize(stale)}}} }]
            """);
        var problem = await response.AssertProblemAsync(412, ProblemTypes.PreconditionFailed);
        Assert.Contains("operations[3]", problem.GetProperty("detail").GetString());
        Assert.Contains(K("b"), problem.GetProperty("detail").GetString());

        Assert.Equal("1", await ValueAsync(K("a")));
        Assert.False((await _client.GetAsync($"/state/{Uri.EscapeDataString(K("a"))}")).Headers.Contains("Hornbeam-Ttl-Seconds"));
        Assert.Equal("3", await ValueAsync(K("b")));
        Assert.Null(await ValueAsync(K("n")));
        var listed = (await (await _client.GetAsync($"/state?prefix={Uri.EscapeDataString(K(""))}")).ReadJsonAsync())
            .GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray();
        Assert.Equal([K("a"), K("b")], listed);
    }

    [Fact]
    public async Task AnIncrOfTextIsAConflictAndLeavesEveryKeyUnchanged()
    {
        await _client.PutAsync($"/state/{Uri.EscapeDataString(K("name"))}", Http.Json("\"Bo\""));
        var response = await TransactAsync($$$"""
            [{"op": "set", "key": "{{{K("a")}}}", "value": 1},
             {"op": "incr", "key": "{{{K("name")}}}"}]
            """);
        var problem = await response.AssertProblemAsync(409, ProblemTypes.Conflict);
        Assert.Contains("operations[1]", problem.GetProperty("detail").GetString());
        Assert.Null(await ValueAsync(K("a")));
        Assert.Equal("\"Bo\"", await ValueAsync(K("name")));
    }

    [Fact]
    public async Task KeysOfDifferentSlotsAreRefusedWithTheWayToShareOne()
    {
        // Without a tag, two keys share a bucket only by chance; find two that do not.
        var first = $"{_id}:x:0";
        var other = Enumerable.Range(1, 100).Select(i => $"{_id}:x:{i}")
            .First(k => Hornbeam.Redis.RedisKeys.StateBucket(k) != Hornbeam.Redis.RedisKeys.StateBucket(first));
        var response = await TransactAsync($$$"""
            [{"op": "set", "key": "{{{first}}}", "value": 1}, {"op": "set", "key": "{{{other}}}", "value": 2}]
            """);
        var problem = await response.AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("hash tag", problem.GetProperty("detail").GetString());
        Assert.Null(await ValueAsync(first));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"operations\": []}")]
    [InlineData("{\"operations\": {}}")]
    [InlineData("{\"operations\": [{\"op\": \"set\", \"key\": \"k\"}]}")]
    [InlineData("{\"operations\": [{\"op\": \"put\", \"key\": \"k\", \"value\": 1}]}")]
    [InlineData("{\"operations\": [{\"key\": \"k\", \"value\": 1}]}")]
    [InlineData("{\"operations\": [{\"op\": \"set\", \"value\": 1}]}")]
    [InlineData("{\"operations\": [{\"op\": \"incr\", \"key\": \"k\", \"delta\": 1.5}]}")]
    [InlineData("{\"operations\": [{\"op\": \"incr\", \"key\": \"k\", \"delta\": \"2\"}]}")]
    [InlineData("{\"operations\": [{\"op\": \"set\", \"key\": \"k\", \"value\": 1, \"ttl_seconds\": 0}]}")]
    [InlineData("{\"operations\": [{\"op\": \"set\", \"key\": \"k\", \"value\": 1, \"ifMatch\": \"*\"}]}")]
    [InlineData("{\"operations\": [{\"op\": \"set\", \"key\": \"k\", \"value\": 1, \"if_match\": \"abc\"}]}")]
    [InlineData("{\"operations\": [{\"op\": \"delete\", \"key\": \"k\", \"ttl_seconds\": 5}]}")]
    [InlineData("{\"operations\": [{\"op\": \"set\", \"key\": \"\", \"value\": 1}]}")]
    [InlineData("[1]")]
    public async Task ABadTransactionIsRefusedInTheClientsTerms(string body)
    {
        var response = await _client.PostAsync("/state/transaction", Http.Json(body));
        await response.AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task BulkSetsEveryValidKeyAndAnswersEachOnItsOwn()
    {
        var (a, b) = ($"{_id}:bulk:a", $"{_id}:bulk:b");
        var response = await _client.PostAsync("/state/bulk?ttl_seconds=60",
            Http.Json($$$"""{"values": {"{{{a}}}": {"n": 1}, "{{{b}}}": [true], "": 3}}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.ReadJsonAsync()).GetProperty("results");
        Assert.Equal(await ETagAsync(a), results.GetProperty(a).GetProperty("etag").GetString());
        Assert.Equal(await ETagAsync(b), results.GetProperty(b).GetProperty("etag").GetString());
        Assert.Equal(400, results.GetProperty("").GetProperty("error").GetProperty("status").GetInt32());
        Assert.Equal(ProblemTypes.InvalidInput, results.GetProperty("").GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("[true]", await ValueAsync(b));
        Assert.Equal("60", (await _client.GetAsync($"/state/{a}")).Headers.GetValues("Hornbeam-Ttl-Seconds").Single());
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"values\": [1]}")]
    [InlineData("{\"values\": {}, \"ttl_seconds\": 5}")]
    [InlineData("{\"values\": {\"a\": 1, \"a\": 2}}")]
    public async Task ABadBulkIsRefusedInTheClientsTerms(string body)
    {
        await (await _client.PostAsync("/state/bulk", Http.Json(body))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }
}
