using System.Net;
using System.Text;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>The seed's state_* functions over REST, through the real HTTP pipeline on a real Redis.</summary>
[Trait("Redis", "Cluster")]
public sealed class StateApiTests(StateApiTests.Host host) : IClassFixture<StateApiTests.Host>
{
    private static readonly Dictionary<string, string?> Limits = new()
    {
        ["Hornbeam:MaxValueBytes"] = "2048",
        ["Hornbeam:MaxKeyBytes"] = "64",
    };

    /// <summary>One host for the whole class, with small limits so the limit tests need no large bodies.</summary>
    public sealed class Host : IAsyncLifetime
    {
        private HornbeamApiFactory _api = null!;
        public HttpClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            _api = await HornbeamApiFactory.StartAsync(settings: Limits);
            Client = _api.CreateClient();
        }

        public async Task DisposeAsync() => await _api.DisposeAsync();
    }

    private readonly HttpClient _client = host.Client;

    // The host is shared, so each test (a new instance) writes under a key space of its own.
    private readonly string _id = Guid.NewGuid().ToString("N")[..12];
    private string K(string key) => $"{_id}:{key}";

    [Theory]
    [InlineData("{\"name\":\"Alice\",\"email\":\"alice@example.com\"}")]
    [InlineData("[1,2,{\"a\":null}]")]
    [InlineData("\"just text, with ünïcode\"")]
    [InlineData("12.5")]
    [InlineData("true")]
    [InlineData("false")]
    [InlineData("null")]
    public async Task SetThenGetReturnsTheSameJsonValue(string json)
    {
        var put = await _client.PutAsync($"/state/{K("user:123")}", Http.Json(json));
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);

        var got = await (await _client.GetAsync($"/state/{K("user:123")}")).ReadJsonAsync();
        Assert.Equal(K("user:123"), got.GetProperty("key").GetString());
        Assert.Equal(JsonDocument.Parse(json).RootElement.ToString(), got.GetProperty("value").ToString());
    }

    [Theory]
    [InlineData("{ \"a\" : [1, 2.50] ,\n \"b\":\"\\u00e9\" }", "{\"a\":[1,2.50],\"b\":\"é\"}")]
    [InlineData("{\"n\":1.50,\"s\":\"x y\",\"t\":true}", "{\"n\":1.50,\"s\":\"x y\",\"t\":true}")]
    [InlineData("{\"n\":-0.0,\"e\":1E3,\"s\":\"x\"}", "{\"n\":-0.0,\"e\":1E3,\"s\":\"x\"}")]
    public async Task ValuesAreStoredCompactWithTheirNumbersAsSent(string sent, string stored)
    {
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PutAsync($"/state/{K("compact")}", Http.Json(sent))).StatusCode);
        var body = await (await _client.GetAsync($"/state/{K("compact")}")).Content.ReadAsStringAsync();
        Assert.Equal($"{{\"key\":\"{K("compact")}\",\"value\":{stored}}}", body);
    }

    [Fact]
    public async Task SetAcceptsAValueSentWithoutAJsonContentType()
    {
        var put = await _client.PutAsync($"/state/{K("plain")}", new StringContent("41", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        Assert.Equal(41, (await (await _client.GetAsync($"/state/{K("plain")}")).ReadJsonAsync()).GetProperty("value").GetInt32());
    }

    [Fact]
    public async Task GetOfAbsentKeyReturnsNotFoundProblem()
    {
        var response = await _client.GetAsync($"/state/{K("nobody:here")}");
        var problem = await response.AssertProblemAsync(404, ProblemTypes.NotFound);
        Assert.Contains(K("nobody:here"), problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("views:/home", "/state/views:/home")]
    [InlineData("a/b/c", "/state/a/b/c")]
    [InlineData("a/b", "/state/a%2Fb")]
    [InlineData("views:/home", "/state/views%3A%2Fhome")]
    [InlineData("100% sure", "/state/100%25%20sure")]
    [InlineData("ключ", "/state/%D0%BA%D0%BB%D1%8E%D1%87")]
    public async Task KeysWithColonsSlashesAndEscapesWorkAsPathKeys(string key, string path)
    {
        (key, path) = (K(key), "/state/" + K(path["/state/".Length..]));
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PutAsync(path, Http.Json("7"))).StatusCode);
        var got = await (await _client.GetAsync(path)).ReadJsonAsync();
        Assert.Equal(key, got.GetProperty("key").GetString());
        var listed = await (await _client.GetAsync("/state?prefix=" + Uri.EscapeDataString(key))).ReadJsonAsync();
        Assert.Contains(key, listed.GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
    }

    [Fact]
    public async Task DeleteRemovesTheKeyAndSucceedsWhenAbsent()
    {
        var gone = $"/state/{K("gone")}";
        await _client.PutAsync(gone, Http.Json("1"));
        Assert.Equal(HttpStatusCode.NoContent, (await _client.DeleteAsync(gone)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync(gone)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _client.DeleteAsync(gone)).StatusCode);
        var listed = await (await _client.GetAsync($"/state?prefix={K("gone")}")).ReadJsonAsync();
        Assert.Empty(listed.GetProperty("keys").EnumerateArray());
    }

    [Fact]
    public async Task IncrementOfMissingKeyStartsFromZeroAndIsReadableAsAValue()
    {
        var first = await (await _client.PostAsync($"/state/incr/{K("views:/home")}", null)).ReadJsonAsync();
        Assert.Equal(K("views:/home"), first.GetProperty("key").GetString());
        Assert.Equal(1, first.GetProperty("value").GetInt64());
        var tenMore = await (await _client.PostAsync($"/state/incr/{K("views:/home")}?delta=10", null)).ReadJsonAsync();
        Assert.Equal(11, tenMore.GetProperty("value").GetInt64());
        var got = await (await _client.GetAsync($"/state/{K("views:/home")}")).ReadJsonAsync();
        Assert.Equal(11, got.GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task IncrementContinuesFromANumberThatWasSet()
    {
        await _client.PutAsync($"/state/{K("n")}", Http.Json("41"));
        var after = await (await _client.PostAsync($"/state/incr/{K("n")}", null)).ReadJsonAsync();
        Assert.Equal(42, after.GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task DecrementHasNoFloor()
    {
        var once = await (await _client.PostAsync($"/state/decr/{K("quota:user:123")}", null)).ReadJsonAsync();
        Assert.Equal(-1, once.GetProperty("value").GetInt64());
        var more = await (await _client.PostAsync($"/state/decr/{K("quota:user:123")}?delta=5", null)).ReadJsonAsync();
        Assert.Equal(-6, more.GetProperty("value").GetInt64());
        var negative = await (await _client.PostAsync($"/state/decr/{K("quota:user:123")}?delta=-10", null)).ReadJsonAsync();
        Assert.Equal(4, negative.GetProperty("value").GetInt64());
    }

    [Theory]
    [InlineData("\"forty-one\"")]
    [InlineData("{\"a\":1}")]
    [InlineData("4.5")]
    public async Task IncrementOfANonIntegerValueReturnsConflictAndLeavesTheValueUnchanged(string json)
    {
        await _client.PutAsync($"/state/{K("text")}", Http.Json(json));
        await (await _client.PostAsync($"/state/incr/{K("text")}", null)).AssertProblemAsync(409, ProblemTypes.Conflict);
        var got = await (await _client.GetAsync($"/state/{K("text")}")).ReadJsonAsync();
        Assert.Equal(JsonDocument.Parse(json).RootElement.ToString(), got.GetProperty("value").ToString());
    }

    [Fact]
    public async Task IncrementPastSixtyFourBitsReturnsConflictAndLeavesTheValueUnchanged()
    {
        await _client.PutAsync($"/state/{K("big")}", Http.Json(long.MaxValue.ToString()));
        var problem = await (await _client.PostAsync($"/state/incr/{K("big")}", null)).AssertProblemAsync(409, ProblemTypes.Conflict);
        Assert.Contains("overflow", problem.GetProperty("detail").GetString());
        Assert.Equal(long.MaxValue, (await (await _client.GetAsync($"/state/{K("big")}")).ReadJsonAsync()).GetProperty("value").GetInt64());
        await (await _client.PostAsync($"/state/decr/{K("big")}?delta={long.MinValue}", null))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("99999999999999999999")]
    public async Task NonIntegerDeltaReturnsBadRequestNamingDelta(string delta)
    {
        var problem = await (await _client.PostAsync($"/state/incr/{K("c")}?delta={delta}", null))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("delta", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/state/{K("c")}")).StatusCode);
    }

    [Fact]
    public async Task EmptyAndOverlongKeysAreRefused()
    {
        await (await _client.PutAsync("/state/", Http.Json("1"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _client.GetAsync("/state/" + new string('k', 65))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await _client.PostAsync("/state/incr/" + new string('k', 65), null)).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PutAsync("/state/" + new string('k', 64), Http.Json("1"))).StatusCode);
    }

    [Fact]
    public async Task OversizedValueReturns413AndKeepsTheStoredValue()
    {
        await _client.PutAsync($"/state/{K("doc")}", Http.Json("\"small\""));
        var big = "\"" + new string('x', 4096) + "\"";
        await (await _client.PutAsync($"/state/{K("doc")}", Http.Json(big))).AssertProblemAsync(413, ProblemTypes.TooLarge);
        Assert.Equal("small", (await (await _client.GetAsync($"/state/{K("doc")}")).ReadJsonAsync()).GetProperty("value").GetString());
    }

    [Theory]
    [InlineData("{bad")]
    [InlineData("")]
    [InlineData("1 2")]
    [InlineData("[1,]")]
    [InlineData("{}{}")]
    [InlineData("[1,2")]
    [InlineData("01")]
    public async Task InvalidJsonReturnsBadRequestAndKeepsTheStoredValue(string body)
    {
        await _client.PutAsync($"/state/{K("doc")}", Http.Json("\"kept\""));
        await (await _client.PutAsync($"/state/{K("doc")}", Http.Json(body))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Equal("kept", (await (await _client.GetAsync($"/state/{K("doc")}")).ReadJsonAsync()).GetProperty("value").GetString());
    }

    [Fact]
    public async Task GetMultiAnswersEveryRequestedKeyWithNullForAbsentOnes()
    {
        await _client.PutAsync($"/state/{K("user:1")}", Http.Json("{\"name\":\"Ann\"}"));
        await _client.PostAsync($"/state/incr/{K("user:2")}", null);
        var keys = JsonSerializer.Serialize(new { keys = new[] { K("user:1"), K("user:2"), K("user:3") } });
        var body = await (await _client.PostAsync("/state/multi", Http.Json(keys))).ReadJsonAsync();
        var values = body.GetProperty("values");
        Assert.Equal("Ann", values.GetProperty(K("user:1")).GetProperty("name").GetString());
        Assert.Equal(1, values.GetProperty(K("user:2")).GetInt64());
        Assert.Equal(JsonValueKind.Null, values.GetProperty(K("user:3")).ValueKind);
        Assert.Equal(3, values.EnumerateObject().Count());
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"keys\":[\"a\",null]}")]
    [InlineData("{\"keys\":\"a\"}")]
    [InlineData("not json")]
    [InlineData("{\"keys\":[\"\"]}")]
    public async Task GetMultiRefusesMalformedRequests(string body)
    {
        await (await _client.PostAsync("/state/multi", Http.Json(body))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task GetMultiRefusesMoreKeysThanTheLimit()
    {
        var keys = JsonSerializer.Serialize(new { keys = Enumerable.Range(0, 1001).Select(i => $"k{i}") });
        var problem = await (await _client.PostAsync("/state/multi", Http.Json(keys))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        Assert.Contains("1000", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task KeysListsByPrefixAndAllWithoutOne()
    {
        // Listing every key needs a key space no other test writes to: this test alone has a host of its own.
        await using var api = await HornbeamApiFactory.StartAsync(settings: Limits);
        var client = api.CreateClient();
        foreach (var key in new[] { "user:1", "user:2", "user:123", "session:9" })
            await client.PutAsync($"/state/{key}", Http.Json("1"));
        var users = await (await client.GetAsync("/state?prefix=user:")).ReadJsonAsync();
        Assert.Equal(["user:1", "user:123", "user:2"], users.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray());
        Assert.Equal(JsonValueKind.Null, users.GetProperty("cursor").ValueKind);
        var all = await (await client.GetAsync("/state")).ReadJsonAsync();
        Assert.Equal(["session:9", "user:1", "user:123", "user:2"],
            all.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray());
    }

    [Fact]
    public async Task KeysPagingWalksEveryMatchOnceInOrder()
    {
        var expected = Enumerable.Range(0, 57).Select(i => K($"page:{i:D3}")).ToList();
        await Task.WhenAll(expected.Select(k => _client.PutAsync($"/state/{k}", Http.Json("1"))));
        await _client.PutAsync($"/state/{K("other")}", Http.Json("1"));

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = $"/state?prefix={K("page:")}&limit=10" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            var page = await (await _client.GetAsync(url)).ReadJsonAsync();
            seen.AddRange(page.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!));
            cursor = page.GetProperty("cursor").GetString();
            pages++;
        } while (cursor is not null);

        Assert.Equal(expected, seen);
        Assert.Equal(6, pages);
    }

    [Theory]
    [InlineData("/state?limit=0")]
    [InlineData("/state?limit=10001")]
    [InlineData("/state?limit=x")]
    [InlineData("/state?cursor=!!not-ours!!")]
    public async Task KeysRefusesBadPagingArguments(string url)
    {
        await (await _client.GetAsync(url)).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }
}
