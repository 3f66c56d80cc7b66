using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Hooks;

/// <summary>stream over REST (Server-Sent Events) and from Core (IAsyncEnumerable).</summary>
[Trait("Redis", "Cluster")]
public sealed class HookStreamTests(HooksHost host) : IClassFixture<HooksHost>
{
    public static async Task<List<SseItem<string>>> ReadEventsAsync(HttpResponseMessage response)
    {
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync()) events.Add(item);
        return events;
    }

    [Fact]
    public async Task AnAsyncEnumerableStreamsOneChunkEventPerItemInOrderThenDone()
    {
        var api = await host.Api;
        var events = await ReadEventsAsync(await api.CreateClient().PostAsync("/hooks/gen/tokens/stream", Http.Json("""{"args": [50]}""")));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"\"t{i}\""), events.SkipLast(1).Select(e => e.Data));
        Assert.All(events.SkipLast(1), e => Assert.Equal("chunk", e.EventType));
        Assert.Equal("done", events[^1].EventType);
        Assert.Equal(50, JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("chunks").GetInt32());
    }

    [Fact]
    public async Task AnEnumerableStreamsAndAnyOtherResultIsOneChunk()
    {
        var api = await host.Api;
        var client = api.CreateClient();
        var numbers = await ReadEventsAsync(await client.PostAsync("/hooks/gen/numbers/stream", Http.Json("""{"kwargs": {"count": 3}}""")));
        Assert.Equal(["1", "2", "3"], numbers.Where(e => e.EventType == "chunk").Select(e => e.Data));
        var text = await ReadEventsAsync(await client.PostAsync("/hooks/gen/text/stream", null));
        Assert.Equal(["chunk", "done"], text.Select(e => e.EventType));
        Assert.Equal("\"a string is one chunk, not characters\"", text[0].Data);
    }

    [Fact]
    public async Task AHandlerFailingMidStreamSendsAnErrorEventWithItsMessageAndEnds()
    {
        var api = await host.Api;
        var events = await ReadEventsAsync(
            await api.CreateClient().PostAsync("/hooks/gen/fail_after/stream", Http.Json("""{"args": [2]}""")));
        Assert.Equal(["chunk", "chunk", "error"], events.Select(e => e.EventType));
        var error = JsonDocument.Parse(events[^1].Data).RootElement;
        Assert.Contains("broke after 2", error.GetProperty("detail").GetString());
        Assert.Equal(ProblemTypes.HandlerFailed, error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task AStreamThatCannotStartIsAPlainProblem()
    {
        var api = await host.Api;
        var client = api.CreateClient();
        await (await client.PostAsync("/hooks/nope/x/stream", null)).AssertProblemAsync(404, ProblemTypes.NotFound);
        await (await client.PostAsync("/hooks/gen/tokens/stream", Http.Json("""{"args": ["many"]}""")))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task AClientThatDisconnectsCancelsTheHandler()
    {
        var api = await host.Api;
        var gate = Gates.New();
        var request = new HttpRequestMessage(HttpMethod.Post, "/hooks/gen/forever/stream")
        {
            Content = Http.Json($$"""{"args": ["{{gate}}"]}"""),
        };
        var response = await api.CreateClient().SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        await using (var events = SseParser.Create(stream).EnumerateAsync().GetAsyncEnumerator())
        {
            Assert.True(await events.MoveNextAsync());
            Assert.Equal("chunk", events.Current.EventType);
        }
        response.Dispose();
        var cancelled = await Gates.For(gate).Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(cancelled.GetBoolean(), "the handler's token was cancelled");
    }

    [Fact]
    public async Task CoreCallersStreamAsAnAsyncEnumerable()
    {
        var api = await host.Api;
        var hooks = api.Services.GetRequiredService<IHooks>();
        var chunks = new List<string>();
        await foreach (var chunk in hooks.StreamAsync("gen", "tokens", HookArgs.From(3))) chunks.Add(chunk.GetString()!);
        Assert.Equal(["t0", "t1", "t2"], chunks);
        // execute collects a stream into one array
        Assert.Equal("[1,2]", (await hooks.ExecuteAsync("gen", "numbers", HookArgs.From(2))).GetRawText());
    }
}
