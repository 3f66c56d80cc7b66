using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>Compare-and-set over REST: GET's ETag, PUT and DELETE with If-Match, create-only PUT with If-None-Match: *.</summary>
[Trait("Redis", "Cluster")]
public sealed class StateETagTests(ApiHost host) : IClassFixture<ApiHost>
{
    private readonly HttpClient _client = host.Client;
    private readonly string _id = Guid.NewGuid().ToString("N")[..12];
    private string K(string key) => $"{_id}:{key}";

    private async Task<string> ETagAsync(string key) => (await _client.GetAsync($"/state/{key}")).Headers.ETag!.ToString();

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string key, string? json = null, string? ifMatch = null,
        string? ifNoneMatch = null)
    {
        var request = new HttpRequestMessage(method, $"/state/{key}") { Content = json is null ? null : Http.Json(json) };
        if (ifMatch is not null) request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        if (ifNoneMatch is not null) request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        return _client.SendAsync(request);
    }

    private async Task<string> ValueAsync(string key) =>
        (await (await _client.GetAsync($"/state/{key}")).ReadJsonAsync()).GetProperty("value").GetRawText();

    [Fact]
    public async Task EveryWriteChangesTheETagAndAPutAnswersTheNewOne()
    {
        var key = K("doc");
        var put = await SendAsync(HttpMethod.Put, key, "{\"v\": 1}");
        var first = await ETagAsync(key);
        Assert.Equal(first, put.Headers.ETag!.ToString());
        Assert.Matches("^\"[0-9a-f]{40}\"$", first);

        await _client.PutAsync($"/state/{key}", Http.Json("41"));
        var second = await ETagAsync(key);
        await _client.PostAsync($"/state/incr/{key}", null);
        var third = await ETagAsync(key);
        Assert.Equal(3, new[] { first, second, third }.Distinct().Count());
        // The tag is the stored bytes': the same value stored again has the same tag.
        await _client.PutAsync($"/state/{key}", Http.Json("{ \"v\" : 1 }"));
        Assert.Equal(first, await ETagAsync(key));
    }

    [Fact]
    public async Task IfMatchSetsOnlyWhenTheETagIsCurrent()
    {
        var key = K("cart");
        await _client.PutAsync($"/state/{key}", Http.Json("[1]"));
        var tag = await ETagAsync(key);

        var won = await SendAsync(HttpMethod.Put, key, "[1,2]", ifMatch: tag);
        Assert.Equal(HttpStatusCode.NoContent, won.StatusCode);
        var lost = await SendAsync(HttpMethod.Put, key, "[1,3]", ifMatch: tag);
        await lost.AssertProblemAsync(412, ProblemTypes.PreconditionFailed);
        Assert.Equal("[1,2]", await ValueAsync(key));

        var eitherTag = $"\"{new string('0', 40)}\", {won.Headers.ETag}";
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, key, "[9]", ifMatch: eitherTag)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, key, "[10]", ifMatch: "*")).StatusCode);
        await (await SendAsync(HttpMethod.Put, K("absent"), "1", ifMatch: "*")).AssertProblemAsync(412, ProblemTypes.PreconditionFailed);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/state/{K("absent")}")).StatusCode);
    }

    [Fact]
    public async Task IfMatchComparesStronglySoAWeakTagNeverMatches()
    {
        var key = K("weak");
        await _client.PutAsync($"/state/{key}", Http.Json("1"));
        await (await SendAsync(HttpMethod.Put, key, "2", ifMatch: "W/" + await ETagAsync(key)))
            .AssertProblemAsync(412, ProblemTypes.PreconditionFailed);
    }

    [Fact]
    public async Task IfNoneMatchStarCreatesOnly()
    {
        var key = K("lock");
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, key, "\"a\"", ifNoneMatch: "*")).StatusCode);
        await (await SendAsync(HttpMethod.Put, key, "\"b\"", ifNoneMatch: "*")).AssertProblemAsync(412, ProblemTypes.PreconditionFailed);
        Assert.Equal("\"a\"", await ValueAsync(key));
    }

    [Fact]
    public async Task DeleteWithIfMatchDeletesOnlyTheVersionRead()
    {
        var key = K("item");
        await _client.PutAsync($"/state/{key}", Http.Json("1"));
        var tag = await ETagAsync(key);
        await _client.PutAsync($"/state/{key}", Http.Json("2"));
        await (await SendAsync(HttpMethod.Delete, key, ifMatch: tag)).AssertProblemAsync(412, ProblemTypes.PreconditionFailed);
        Assert.Equal("2", await ValueAsync(key));

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, key, ifMatch: await ETagAsync(key))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/state/{key}")).StatusCode);
        Assert.DoesNotContain(key, (await (await _client.GetAsync($"/state?prefix={_id}")).ReadJsonAsync()).GetProperty("keys")
            .EnumerateArray().Select(k => k.GetString()));
    }

    [Fact]
    public async Task AConditionalPutCanGiveALifetime()
    {
        var key = K("ttl");
        await _client.PutAsync($"/state/{key}", Http.Json("1"));
        var request = await SendAsync(HttpMethod.Put, $"{key}?ttl_seconds=60", "2", ifMatch: await ETagAsync(key));
        Assert.Equal(HttpStatusCode.NoContent, request.StatusCode);
        Assert.Equal("60", (await _client.GetAsync($"/state/{key}")).Headers.GetValues("Hornbeam-Ttl-Seconds").Single());
    }
}
