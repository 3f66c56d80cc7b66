using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Hornbeam.Tests.Contract;

/// <summary>
/// Bad input on any route is a 400/413 ProblemDetails in the client's terms, and a refused write leaves the stored
/// value as it was (issue 20). The host listens on real Kestrel, so request targets arrive as a client sends them.
/// </summary>
public sealed class BadInputTests(BadInputHost host) : IClassFixture<BadInputHost>
{
    private const string InvalidInput = "urn:hornbeam:problem:invalid-input";
    private HttpClient Client => host.Client;
    private static string Key() => $"bad:{Guid.NewGuid():N}";

    public static TheoryData<string> BadJsonBodies => new()
    {
        "\"\\ud800\"",                      // a lone high surrogate escape
        "{\"a\":\"\\udc00x\"}",              // a lone low surrogate escape
        "[\"\\ud800\\u0041\"]",              // a high surrogate followed by something else
        "{\"a\":1,\"a\":2}",                 // a member name twice
        "{\"a\":1,\"\\u0061\":2}",           // the same name, once escaped
        "{\"x\":{\"b\":[],\"b\":{}}}",       // twice in a nested object
        new string('[', JsonRules.MaxDepth + 1) + new string(']', JsonRules.MaxDepth + 1),
    };

    [Theory]
    [MemberData(nameof(BadJsonBodies))]
    public async Task StateSetRefusesJsonOutsideTheRuleAndKeepsTheOldValue(string body)
    {
        var key = Key();
        (await Client.PutAsync($"/state/{key}", Http.Json("\"before\""))).EnsureSuccessStatusCode();
        await (await Client.PutAsync($"/state/{key}", Http.Json(body))).AssertProblemAsync(400, InvalidInput);
        var stored = await (await Client.GetAsync($"/state/{key}")).ReadJsonAsync();
        Assert.Equal("before", stored.GetProperty("value").GetString());
    }

    [Theory]
    [MemberData(nameof(BadJsonBodies))]
    public async Task EveryRouteThatTakesJsonRefusesTheSameBodies(string value)
    {
        await (await Client.PostAsync($"/pubsub/{Key()}", Http.Json(value))).AssertProblemAsync(400, InvalidInput);
        await (await Client.PostAsync("/hooks/echo/args", Http.Json($"{{\"args\":[{value}]}}"))).AssertProblemAsync(400, InvalidInput);
        await (await Client.PostAsync("/hooks/echo/args", Http.Json($"{{\"kwargs\":{{\"v\":{value}}}}}")))
            .AssertProblemAsync(400, InvalidInput);
        await (await Client.PostAsync("/functions/add/call", Http.Json($"{{\"args\":[{value}]}}"))).AssertProblemAsync(400, InvalidInput);
        await (await Client.PostAsync("/ml/cached/echo/args", Http.Json($"{{\"input\":{value}}}"))).AssertProblemAsync(400, InvalidInput);
    }

    [Fact]
    public async Task HookKwargsNamedTwiceAreRefusedNotResolvedToTheLast()
    {
        var response = await Client.PostAsync("/hooks/echo/args", Http.Json("{\"kwargs\":{\"v\":1,\"v\":2}}"));
        var problem = await response.AssertProblemAsync(400, InvalidInput);
        Assert.Contains("\"v\" twice", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task InvalidUtf8InsideAStringIsRefusedAndNothingIsStoredOrPublished()
    {
        var key = Key();
        (await Client.PutAsync($"/state/{key}", Http.Json("\"before\""))).EnsureSuccessStatusCode();
        var bad = new ByteArrayContent([(byte)'"', 0xFF, 0xFE, (byte)'"']);
        bad.Headers.ContentType = new("application/json");
        var problem = await (await Client.PutAsync($"/state/{key}", bad)).AssertProblemAsync(400, InvalidInput);
        Assert.Contains("UTF-8", problem.GetProperty("detail").GetString());
        Assert.Equal("before", (await (await Client.GetAsync($"/state/{key}")).ReadJsonAsync()).GetProperty("value").GetString());

        var topic = Key();
        (await Client.PostAsync($"/pubsub/{topic}", Http.Json("1"))).EnsureSuccessStatusCode();
        await (await Client.PostAsync($"/pubsub/{topic}", bad)).AssertProblemAsync(400, InvalidInput);
        await (await Client.PostAsync("/hooks/echo/args", Bytes([.. "{\"args\":[\""u8, 0xFF, .. "\"]}"u8])))
            .AssertProblemAsync(400, InvalidInput);
    }

    [Fact]
    public async Task AValueAtTheDepthLimitIsStoredAndEveryAnswerReadsBackWithADefaultReader()
    {
        var key = Key();
        var deepest = new string('[', JsonRules.MaxDepth) + new string(']', JsonRules.MaxDepth);
        (await Client.PutAsync($"/state/{key}", Http.Json(deepest))).EnsureSuccessStatusCode();
        // JsonDocument.Parse with default options allows 64 levels, as most readers do.
        using var get = JsonDocument.Parse(await Client.GetStringAsync($"/state/{key}"));
        using var multi = JsonDocument.Parse(
            await (await Client.PostAsync("/state/multi", Http.Json($"{{\"keys\":[\"{key}\"]}}"))).Content.ReadAsStringAsync());
        using var hook = JsonDocument.Parse(
            await (await Client.PostAsync("/hooks/echo/args", Http.Json($"{{\"args\":[{deepest[2..^2]}]}}"))).Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Array, get.RootElement.GetProperty("value").ValueKind);
        Assert.Equal(JsonValueKind.Object, multi.RootElement.GetProperty("values").ValueKind);
    }

    [Fact]
    public async Task AHookThatAnswersALoneSurrogateIsABadGatewayNotA500()
    {
        var response = await Client.PostAsync("/hooks/bad-answer/lone-surrogate", Http.Json("{}"));
        var problem = await response.AssertProblemAsync(502, "urn:hornbeam:problem:bad-gateway");
        Assert.Contains("bad-answer", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AKeyIsPercentDecodedExactlyOnce()
    {
        var id = Guid.NewGuid().ToString("N");
        // %252F is an escaped '%' followed by "2F": the key holds the three characters %2F, not a slash.
        Assert.Equal(204, (await RawAsync("PUT", $"/state/once:{id}:a%252Fb", "1")).Status);
        Assert.Equal(204, (await RawAsync("PUT", $"/state/once:{id}:a%2Fb", "2")).Status);
        var page = await (await Client.GetAsync($"/state?prefix=once:{id}:")).ReadJsonAsync();
        var keys = page.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal([$"once:{id}:a%2Fb", $"once:{id}:a/b"], keys);
        Assert.Contains("\"value\":1", (await RawAsync("GET", $"/state/once:{id}:a%252Fb")).Body);
        Assert.Contains("\"value\":2", (await RawAsync("GET", $"/state/once:{id}:a/b")).Body);
    }

    [Theory]
    [InlineData("/state/{0}%FF", "not UTF-8")]
    [InlineData("/state/{0}%C3", "not UTF-8")]
    [InlineData("/state/{0}/./y", "'.' or '..'")]
    [InlineData("/state/{0}/../y", "'.' or '..'")]
    [InlineData("/state/{0}/%2e%2E/y", "'.' or '..'")]
    [InlineData("/state/incr/{0}/./y", "'.' or '..'")]
    [InlineData("/pubsub/{0}%FF", "not UTF-8")]
    public async Task AKeyThatCannotBeAddressedIsRefused(string target, string reason)
    {
        var key = Key();
        var method = target.StartsWith("/pubsub", StringComparison.Ordinal) || target.Contains("/incr/") ? "POST" : "PUT";
        var answer = await RawAsync(method, string.Format(target, key), "1");
        Assert.True(answer.Status == 400, $"{answer.Status}: {answer.Body}");
        Assert.Contains(InvalidInput, answer.Body);
        Assert.Contains(reason, answer.Body);
        var page = await (await Client.GetAsync($"/state?prefix={key}")).ReadJsonAsync();
        Assert.Empty(page.GetProperty("keys").EnumerateArray());
    }

    [Fact]
    public async Task ACursorFromOutsideThePrefixIsRefused()
    {
        var prefix = Key() + ":";
        (await Client.PutAsync($"/state/{prefix}a", Http.Json("1"))).EnsureSuccessStatusCode();
        await (await Client.GetAsync($"/state?prefix={prefix}&cursor=_w")).AssertProblemAsync(400, InvalidInput);
        await (await Client.GetAsync($"/state?prefix={prefix}&cursor={Base64Url("a")}")).AssertProblemAsync(400, InvalidInput);
    }

    [Fact]
    public async Task ABodyOverTheLimitOnARouteThatTakesNoneIsRefusedAndNotApplied()
    {
        var key = Key();
        var big = new HttpRequestMessage(HttpMethod.Post, $"/state/incr/{key}")
        {
            Content = new ByteArrayContent(new byte[3 * 1024 * 1024]),
        };
        // The server answers before reading the body; with 100-continue the client then does not send it into a closed connection.
        big.Headers.ExpectContinue = true;
        await (await Client.SendAsync(big)).AssertProblemAsync(413, "urn:hornbeam:problem:too-large");
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/state/{key}")).StatusCode);
    }

    [Theory]
    [InlineData("/state/multi")]
    [InlineData("/hooks/echo/args")]
    [InlineData("/hooks/echo/args/async")]
    [InlineData("/hooks/echo/args/stream")]
    [InlineData("/functions/add/call")]
    [InlineData("/ml/cached/echo/args")]
    [InlineData("/ml/cache/lookup")]
    [InlineData("/ml/cache/store")]
    [InlineData("/pubsub/too-large")]
    public async Task ABodyOverTheLimitIsTooLargeWithADetailOnEveryRouteWithABody(string route)
    {
        var big = new HttpRequestMessage(HttpMethod.Post, route)
        {
            Content = new StringContent("[" + string.Join(",", Enumerable.Repeat("1", 1_600_000)) + "]", Encoding.UTF8, "application/json"),
        };
        big.Headers.ExpectContinue = true;
        var problem = await (await Client.SendAsync(big)).AssertProblemAsync(413, "urn:hornbeam:problem:too-large");
        Assert.Contains("bytes", problem.GetProperty("detail").GetString());
        // Streamed without a length, the limit still holds.
        var chunked = new StreamContent(
            new MemoryStream(Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Repeat("1", 1_050_000)) + "]")));
        chunked.Headers.ContentType = new("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        await (await Client.SendAsync(request)).AssertProblemAsync(413, "urn:hornbeam:problem:too-large");
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("DELETE")]
    [InlineData("PUT")]
    public async Task MetricsAnswersReadsOnly(string method)
    {
        var response = await Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/metrics"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("GET", response.Content.Headers.Allow);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task ABadLastEventIdIsNamedAsTheClientSentIt()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/pubsub/{Key()}");
        request.Headers.Add("Last-Event-ID", "abc");
        var problem = await (await Client.SendAsync(request)).AssertProblemAsync(400, InvalidInput);
        Assert.Equal("The header Last-Event-ID must be a whole number; it was 'abc'.", problem.GetProperty("detail").GetString());
        problem = await (await Client.GetAsync($"/pubsub/{Key()}?last_event_id=x1")).AssertProblemAsync(400, InvalidInput);
        Assert.Equal("The query parameter last_event_id must be a whole number; it was 'x1'.", problem.GetProperty("detail").GetString());
        problem = await (await Client.PostAsync($"/state/incr/{Key()}?delta=two", null)).AssertProblemAsync(400, InvalidInput);
        Assert.Equal("The query parameter delta must be a whole number; it was 'two'.", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("PUT", "?ttl_seconds=0", null, null, "ttl_seconds must be a whole number of seconds from 1")]
    [InlineData("PUT", "?ttl_seconds=-5", null, null, "ttl_seconds must be a whole number of seconds from 1")]
    [InlineData("PUT", "?ttl_seconds=soon", null, null, "The query parameter ttl_seconds must be a whole number; it was 'soon'.")]
    [InlineData("PUT", "?ttl_seconds=99999999999", null, null, "ttl_seconds")]
    [InlineData("PUT", "", "If-Match", "abc", "If-Match must be * or quoted ETags")]
    [InlineData("PUT", "", "If-Match", "\"unterminated", "If-Match must be * or quoted ETags")]
    [InlineData("PUT", "", "If-None-Match", ",", "If-None-Match is empty")]
    [InlineData("DELETE", "", "If-Match", "W/", "If-Match must be * or quoted ETags")]
    [InlineData("POST incr", "?ttl_seconds=0", null, null, "ttl_seconds must be a whole number of seconds from 1")]
    [InlineData("POST decr", "?ttl_seconds=x", null, null, "The query parameter ttl_seconds must be a whole number; it was 'x'.")]
    public async Task StateLifetimesAndConditionsRefuseBadInputAndKeepTheOldValue(string method, string query, string? header,
        string? value, string detail)
    {
        var key = Key();
        (await Client.PutAsync($"/state/{key}", Http.Json("7"))).EnsureSuccessStatusCode();
        var request = method switch
        {
            "POST incr" => new HttpRequestMessage(HttpMethod.Post, $"/state/incr/{key}{query}"),
            "POST decr" => new HttpRequestMessage(HttpMethod.Post, $"/state/decr/{key}{query}"),
            _ => new HttpRequestMessage(new HttpMethod(method), $"/state/{key}{query}")
            {
                Content = method == "PUT" ? Http.Json("8") : null,
            },
        };
        if (header is not null) request.Headers.TryAddWithoutValidation(header, value);
        var problem = await (await Client.SendAsync(request)).AssertProblemAsync(400, InvalidInput);
        Assert.Contains(detail, problem.GetProperty("detail").GetString());
        Assert.Equal(7, (await (await Client.GetAsync($"/state/{key}")).ReadJsonAsync()).GetProperty("value").GetInt32());
    }

    [Theory]
    [InlineData("/state/transaction", "{\"operations\": [{\"op\": \"set\", \"key\": \"k\"}]}", "has no 'value'")]
    [InlineData("/state/transaction", "{\"operations\": [{\"op\": \"incr\", \"key\": \"k\", \"delta\": 1e3}]}", "delta")]
    [InlineData("/state/transaction", "{\"operations\": [{\"op\": \"set\", \"key\": \"k\", \"value\": 1, \"ttl\": 3}]}",
        "'ttl', which is not one of")]
    [InlineData("/state/transaction", "{\"ops\": []}", "'operations' array")]
    [InlineData("/state/bulk", "{\"values\": 3}", "'values' object")]
    [InlineData("/state/bulk?ttl_seconds=0", "{\"values\": {}}", "ttl_seconds")]
    public async Task StateTransactionAndBulkRefuseBadBodiesInTheClientsTerms(string target, string body, string detail)
    {
        var problem = await (await Client.PostAsync(target, Http.Json(body))).AssertProblemAsync(400, InvalidInput);
        Assert.Contains(detail, problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("POST", "/ml/cached/echo/args", "-974", 415)]
    [InlineData("POST", "/hooks/echo/args", "text/plain", 415)]
    [InlineData("GET", "/no-such-route", null, 404)]
    public async Task AnErrorTheFrameworkAnswersItselfStillSaysWhatWasWrong(string method, string target, string? contentType, int status)
    {
        // Found by HostileInputPropertyTests: the framework's own 415 and 404 came without a detail.
        var request = new HttpRequestMessage(new HttpMethod(method), target);
        if (contentType is not null)
        {
            request.Content = new ByteArrayContent("{}"u8.ToArray());
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        var response = await Client.SendAsync(request);
        var body = await response.ReadJsonAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("detail").GetString()), body.ToString());
    }

    [Theory]
    [InlineData("/hooks/echo/args")]
    [InlineData("/functions/add/call")]
    [InlineData("/ml/cached/echo/args")]
    [InlineData("/ml/cache/lookup")]
    public async Task ARouteThatBindsJsonRefusesAnotherContentTypeAsDocumented(string route)
    {
        var response = await Client.PostAsync(route, new StringContent("{}", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var document = await Client.GetStringAsync("/openapi/v1.json");
        Assert.Contains("\"415\"", document);
    }

    private static string Base64Url(string text) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static ByteArrayContent Bytes(byte[] utf8)
    {
        var content = new ByteArrayContent(utf8);
        content.Headers.ContentType = new("application/json");
        return content;
    }

    /// <summary>One HTTP/1.1 request with the target exactly as given: HttpClient would normalise dots and escapes.</summary>
    private async Task<(int Status, string Body)> RawAsync(string method, string target, string? body = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.Address.Host, host.Address.Port);
        await using var stream = tcp.GetStream();
        var bytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        var head = $"{method} {target} HTTP/1.1\r\nHost: {host.Address.Authority}\r\nConnection: close\r\n"
            + (body is null ? "" : $"Content-Type: application/json\r\nContent-Length: {bytes.Length}\r\n") + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(bytes);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (status, split < 0 ? "" : text[(split + 4)..]);
    }
}

/// <summary>One API host on real Kestrel with the test hooks and functions, shared by the class.</summary>
public sealed class BadInputHost : IAsyncLifetime
{
    private HornbeamApiFactory? _api;
    public HttpClient Client { get; private set; } = null!;
    public Uri Address => Client.BaseAddress!;

    public async Task InitializeAsync()
    {
        _api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), configure: hornbeam =>
        {
            Tests.Hooks.TestHookSetup.Register(hornbeam);
            // A C# string with a lone surrogate is written as U+FFFD by System.Text.Json; a parsed element keeps the escape.
            hornbeam.AddHook("bad-answer", (action, args, kwargs) => (object?)JsonDocument.Parse("\"\\ud800\"").RootElement.Clone());
            hornbeam.AddFunction("add", (long a, long b) => a + b);
        });
        _api.UseKestrel(0);
        _api.StartServer();
        Client = _api.CreateClient();
        await Poll.UntilAsync(async () => (await Client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the host is ready");
    }

    public async Task DisposeAsync()
    {
        if (_api is not null) await _api.DisposeAsync();
    }
}
