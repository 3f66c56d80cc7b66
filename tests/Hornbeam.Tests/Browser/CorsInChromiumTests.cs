using System.Net;
using Hornbeam.Api.Problems;

namespace Hornbeam.Tests.Browser;

/// <summary>A page on another origin calling the API with fetch, in Chromium: pages of allowed origins only.</summary>
public sealed class CorsInChromiumTests(BrowserFixture site) : IClassFixture<BrowserFixture>
{
    private readonly string _key = $"cors:{Guid.NewGuid():N}";

    // A write with an Authorization header: the browser asks with a preflight first, and sends the write only if allowed.
    private const string Write = """
        async ({ url, method, headers, body }) => {
          try {
            const response = await fetch(url, { method, headers, body });
            const text = await response.text();
            return { status: response.status, body: text ? JSON.parse(text) : null };
          } catch (e) {
            return { blocked: String(e) };
          }
        }
        """;

    private Task<System.Text.Json.JsonElement> WriteAsync(OriginServer page, HttpMethod method, string path, object? json,
        string? idempotencyKey = null)
    {
        var headers = new Dictionary<string, string> { ["Authorization"] = $"Bearer {BrowserFixture.Key}" };
        if (json is not null) headers["Content-Type"] = "application/json";
        if (idempotencyKey is not null) headers["Idempotency-Key"] = idempotencyKey;
        return BrowserHarness.RunAsync(page.Page, Write, new
        {
            url = new Uri(site.Keyed.BaseAddress!, path),
            method = method.Method,
            headers,
            body = json is null ? null : System.Text.Json.JsonSerializer.Serialize(json),
        });
    }

    private async Task<HttpStatusCode> ReadStatusAsync(string path)
    {
        using var read = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { { "X-Api-Key", BrowserFixture.Key } } };
        return (await site.Keyed.SendAsync(read)).StatusCode;
    }

    private static int Status(System.Text.Json.JsonElement answer) =>
        answer.TryGetProperty("status", out var status) ? status.GetInt32() : throw new Xunit.Sdk.XunitException(
            $"the browser refused the answer: {answer}");

    [BrowserFact]
    public async Task APageOnAnAllowedOriginWritesJsonWithAnAuthorizationHeader()
    {
        Assert.Equal(204, Status(await WriteAsync(site.Allowed, HttpMethod.Put, $"/state/{_key}", new { greeting = "from a page" })));
        Assert.Equal(HttpStatusCode.OK, await ReadStatusAsync($"/state/{_key}"));

        var read = await WriteAsync(site.Allowed, HttpMethod.Post, "/state/multi", new { keys = new[] { _key } });
        Assert.Equal(200, Status(read));
        Assert.Equal("from a page", read.GetProperty("body").GetProperty("values").GetProperty(_key).GetProperty("greeting").GetString());

        // Twice with one Idempotency-Key: applied once, the second answer replayed.
        var once = Guid.NewGuid().ToString();
        var first = await WriteAsync(site.Allowed, HttpMethod.Post, $"/state/incr/{_key}:n", null, once);
        var again = await WriteAsync(site.Allowed, HttpMethod.Post, $"/state/incr/{_key}:n", null, once);
        Assert.Equal(1, first.GetProperty("body").GetProperty("value").GetInt64());
        Assert.Equal(1, again.GetProperty("body").GetProperty("value").GetInt64());
    }

    [BrowserFact]
    public async Task APageOnAnOriginNotAllowedCannotWrite()
    {
        var result = await WriteAsync(site.Other, HttpMethod.Put, $"/state/{_key}", new { greeting = "from elsewhere" });

        Assert.True(result.TryGetProperty("blocked", out _), $"the browser let the page read the answer: {result}");
        // The preflight was refused, so the write itself was never sent.
        Assert.Equal(HttpStatusCode.NotFound, await ReadStatusAsync($"/state/{_key}"));
    }

    [BrowserFact]
    public async Task APageReadsARefusalAsProblemJsonWithItsHeaders()
    {
        var script = """
            async ({ url, secret }) => {
              const answers = [];
              for (const key of [null, 'wrong', secret]) {
                const response = await fetch(url, { headers: key ? { 'X-Api-Key': key } : {} });
                answers.push({ status: response.status, contentType: response.headers.get('Content-Type'),
                  wwwAuthenticate: response.headers.get('WWW-Authenticate'), body: await response.json() });
              }
              return answers;
            }
            """;
        var answers = await BrowserHarness.RunAsync(site.Allowed.Page, script,
            new { url = new Uri(site.Keyed.BaseAddress!, $"/pubsub/{_key}"), secret = BrowserFixture.ReaderKey });

        Assert.Equal([401, 401, 403], answers.EnumerateArray().Select(a => a.GetProperty("status").GetInt32()));
        Assert.All(answers.EnumerateArray(), a =>
        {
            Assert.Equal("application/problem+json", a.GetProperty("contentType").GetString());
            Assert.Equal(a.GetProperty("status").GetInt32(), a.GetProperty("body").GetProperty("status").GetInt32());
        });
        Assert.Equal("Bearer", answers[0].GetProperty("wwwAuthenticate").GetString());
    }

    [BrowserFact]
    public async Task APageReadsA429AndWhenToRetry()
    {
        var script = """
            async ({ url, secret }) => {
              for (let i = 0; i < 50; i++) {
                const response = await fetch(url, { headers: { 'X-Api-Key': secret } });
                if (response.status === 429)
                  return { retryAfter: response.headers.get('Retry-After'), body: await response.json() };
              }
              return { never: true };
            }
            """;
        var result = await BrowserHarness.RunAsync(site.Allowed.Page, script,
            new { url = new Uri(site.Keyed.BaseAddress!, $"/state/{_key}"), secret = BrowserFixture.SlowKey });

        Assert.Equal(ProblemTypes.RateLimited, result.GetProperty("body").GetProperty("type").GetString());
        // Readable by the page only because the answer exposes it.
        Assert.True(int.Parse(result.GetProperty("retryAfter").GetString()!) >= 1, $"{result}");
    }
}
