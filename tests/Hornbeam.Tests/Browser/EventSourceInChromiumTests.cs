using System.Net.Http.Headers;
using Hornbeam.Api.Problems;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Browser;

/// <summary>A page on another origin subscribing with the browser's own EventSource, in Chromium.</summary>
public sealed class EventSourceInChromiumTests(BrowserFixture site) : IClassFixture<BrowserFixture>
{
    private readonly string _topic = $"browser:{Guid.NewGuid():N}";

    // Subscribes, publishes three messages with fetch once the stream says it is subscribed, and answers what arrived.
    private const string SubscribeAndPublish = """
        async ({ url }) => new Promise((resolve) => {
          const received = [];
          const source = new EventSource(url);
          source.addEventListener('subscribed', async () => {
            for (const n of [1, 2, 3])
              await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ n }) });
          });
          source.onmessage = (e) => {
            received.push({ id: e.lastEventId, data: JSON.parse(e.data) });
            if (received.length === 3) { source.close(); resolve({ received }); }
          };
          source.onerror = () => { if (source.readyState === EventSource.CLOSED) resolve({ closed: true, received }); };
        })
        """;

    [BrowserFact]
    public async Task APageOnAnAllowedOriginReceivesWhatIsPublished()
    {
        var result = await BrowserHarness.RunAsync(site.Allowed.Page, SubscribeAndPublish,
            new { url = new Uri(site.Open.BaseAddress!, $"/pubsub/{_topic}") });

        Assert.False(result.TryGetProperty("closed", out _), $"the stream was refused: {result}");
        var received = result.GetProperty("received").EnumerateArray().ToArray();
        Assert.Equal([1, 2, 3], received.Select(m => m.GetProperty("data").GetProperty("n").GetInt32()));
        var ids = received.Select(m => long.Parse(m.GetProperty("id").GetString()!)).ToArray();
        Assert.Equal(ids.Order(), ids);
    }

    [BrowserFact]
    public async Task AnEventSourceFromAnOriginNotAllowedIsRefused()
    {
        var result = await BrowserHarness.RunAsync(site.Other.Page, SubscribeAndPublish,
            new { url = new Uri(site.Open.BaseAddress!, $"/pubsub/{_topic}") });

        Assert.True(result.GetProperty("closed").GetBoolean());
        Assert.Empty(result.GetProperty("received").EnumerateArray());
    }

    [BrowserFact]
    public async Task AStreamRefusedForWantOfAKeyClosesTheEventSourceAndItsBodyIsProblemJson()
    {
        var url = new Uri(site.Keyed.BaseAddress!, $"/pubsub/{_topic}");
        // The EventSource sees only that it failed; fetch with the same Accept reads why.
        var script = """
            async ({ url }) => {
              const failed = await new Promise((resolve) => {
                const source = new EventSource(url);
                source.onopen = () => { source.close(); resolve({ opened: true }); };
                source.onerror = () => resolve({ readyState: source.readyState });
              });
              const response = await fetch(url, { headers: { 'Accept': 'text/event-stream' } });
              return { failed, status: response.status, contentType: response.headers.get('Content-Type'), body: await response.json() };
            }
            """;
        var result = await BrowserHarness.RunAsync(site.Allowed.Page, script, new { url });

        Assert.Equal(2, result.GetProperty("failed").GetProperty("readyState").GetInt32()); // EventSource.CLOSED: it will not retry
        Assert.Equal(401, result.GetProperty("status").GetInt32());
        Assert.Equal("application/problem+json", result.GetProperty("contentType").GetString());
        Assert.Equal(ProblemTypes.Unauthorized, result.GetProperty("body").GetProperty("type").GetString());

        // The same request as curl sends it: the body is the ProblemDetails, not an empty 500.
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        await (await site.Keyed.SendAsync(request)).AssertProblemAsync(401, ProblemTypes.Unauthorized);
    }
}
