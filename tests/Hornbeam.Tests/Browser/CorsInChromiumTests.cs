using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Browser;

/// <summary>A page on another origin calling the API with fetch, in Chromium: allowed origins only.</summary>
public sealed class CorsTests(BrowserFixture site) : IClassFixture<BrowserFixture>
{
    private readonly string _key = $"cors:{Guid.NewGuid():N}";

    // A JSON PUT with an Authorization header: the browser sends a preflight first, and the PUT only if it is allowed.
    private const string PutJson = """
        async ({ api, key, secret }) => {
          try {
            const response = await fetch(`${api}state/${key}`, {
              method: 'PUT',
              headers: { 'Content-Type': 'application/json', 'Authorization': `Bearer ${secret}` },
              body: JSON.stringify({ value: 'from a page' }),
            });
            return { status: response.status, etag: response.headers.get('ETag'), body: await response.text() };
          } catch (e) {
            return { blocked: String(e) };
          }
        }
        """;

    [BrowserFact]
    public async Task APageOnAnOriginNotAllowedCannotWrite()
    {
        var result = await BrowserHarness.RunAsync(site.Other.Page, PutJson, new { api = site.Api, key = _key, secret = BrowserFixture.Key });

        Assert.True(result.TryGetProperty("blocked", out _), $"the browser let the page read the answer: {result}");
        using var read = new HttpRequestMessage(HttpMethod.Get, $"/state/{_key}") { Headers = { { "X-Api-Key", BrowserFixture.Key } } };
        Assert.Equal(HttpStatusCode.NotFound, (await site.Client.SendAsync(read)).StatusCode);
    }
}
