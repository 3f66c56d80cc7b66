using System.Net;
using System.Text.Json;
using Hornbeam.Tests.Infrastructure;
using Hornbeam.Tests.PubSub;

namespace Hornbeam.Tests.State;

/// <summary>
/// The change feed records every state write, not only the plain ones: sets with a lifetime, conditional sets and
/// deletes, increments with a lifetime, transactions (all operations, or none when undone), bulk sets, and expiry.
/// </summary>
[Trait("Redis", "Cluster")]
public sealed class StateChangesWritesTests(ApiHost host) : IClassFixture<ApiHost>
{
    private readonly HttpClient _client = host.Client;

    // One hash tag: every key is in one bucket (so one stream, in write order) and a transaction may take them all.
    private readonly string _prefix = $"{{feedw:{Guid.NewGuid():N}}}:";

    private string K(string key) => _prefix + key;

    private static string Path(string key) => $"/state/{Uri.EscapeDataString(key)}";

    private Task<SseStream> WatchAsync() =>
        SseStream.OpenAsync(_client, $"/state/changes?prefix={Uri.EscapeDataString(_prefix)}");

    private static string Describe(SseEvent e)
    {
        // Anything but a change (a gap, or the stream's end) shows as itself, so an assertion says what came instead.
        if (e.Event != "message") return $"{e.Event} {e.Data}";
        var json = e.Json;
        var value = json.TryGetProperty("value", out var v) ? v.GetRawText() : "-";
        var delta = json.TryGetProperty("delta", out var d) ? $" {d.GetInt64()}" : "";
        return $"{json.GetProperty("key").GetString()} {json.GetProperty("op").GetString()} {value}{delta}";
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, string? json = null, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = json is null ? null : Http.Json(json) };
        if (ifMatch is not null) request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        return await _client.SendAsync(request);
    }

    private async Task<string> ETagAsync(string key) => (await _client.GetAsync(Path(key))).Headers.ETag!.ToString();

    private async Task MarkAsync(SseStream feed)
    {
        // A write after the ones under test: the next event is its, so nothing else was recorded in between.
        Assert.True((await SendAsync(HttpMethod.Put, Path(K("mark")), "0")).IsSuccessStatusCode);
        Assert.Equal($"{K("mark")} set 0", Describe(await feed.NextAsync()));
    }

    [Fact]
    public async Task SetsWithALifetimeConditionalWritesAndIncrementsWithALifetimeAreRecorded()
    {
        await using var feed = await WatchAsync();
        var a = K("a");
        Assert.True((await SendAsync(HttpMethod.Put, Path(a) + "?ttl_seconds=60", """{"n":1}""")).IsSuccessStatusCode);
        var first = await feed.NextAsync();
        Assert.Equal($"{a} set {{\"n\":1}}", Describe(first));
        // The event's ETag is the one GET answers for the value it carries.
        var tag = await ETagAsync(a);
        Assert.Equal(tag, first.Json.GetProperty("etag").GetString());

        Assert.True((await SendAsync(HttpMethod.Put, Path(a), """{"n":2}""", ifMatch: tag)).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Put, Path(a), "3", ifMatch: tag)).StatusCode);
        var second = await feed.NextAsync();
        Assert.Equal($"{a} set {{\"n\":2}}", Describe(second));
        Assert.Equal(await ETagAsync(a), second.Json.GetProperty("etag").GetString());

        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Delete, Path(a), ifMatch: tag)).StatusCode);
        var deleted = await SendAsync(HttpMethod.Delete, Path(a), ifMatch: await ETagAsync(a));
        Assert.True(deleted.IsSuccessStatusCode, $"DELETE with If-Match answered {(int)deleted.StatusCode}");
        var gone = await feed.NextAsync();
        Assert.Equal($"{a} delete -", Describe(gone));
        Assert.False(gone.Json.TryGetProperty("etag", out _));

        var c = K("c");
        Assert.Equal(HttpStatusCode.OK,
            (await SendAsync(HttpMethod.Post, $"/state/incr/{Uri.EscapeDataString(c)}?ttl_seconds=60")).StatusCode);
        var once = new HttpRequestMessage(HttpMethod.Post, $"/state/incr/{Uri.EscapeDataString(c)}?ttl_seconds=60&delta=5");
        once.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(once)).StatusCode);
        var increments = await feed.TakeAsync(2);
        Assert.Equal([$"{c} incr 1 1", $"{c} incr 6 5"], increments.Select(Describe));
        Assert.Equal(await ETagAsync(c), increments[1].Json.GetProperty("etag").GetString());
        await MarkAsync(feed);
    }

    [Fact]
    public async Task ATransactionRecordsEachOperationInOrderAndAnUndoneOneNothing()
    {
        await SendAsync(HttpMethod.Put, Path(K("b")), "true");
        await SendAsync(HttpMethod.Put, Path(K("text")), "\"words\"");
        await using var feed = await WatchAsync();

        var applied = await _client.PostAsync("/state/transaction", Http.Json($$$"""
            {"operations": [{"op": "set", "key": "{{{K("a")}}}", "value": {"x": 1}, "ttl_seconds": 60},
                            {"op": "delete", "key": "{{{K("b")}}}"},
                            {"op": "delete", "key": "{{{K("absent")}}}"},
                            {"op": "incr", "key": "{{{K("c")}}}", "delta": 2},
                            {"op": "incr", "key": "{{{K("c")}}}"}]}
            """));
        Assert.True(applied.StatusCode == HttpStatusCode.OK, await applied.Content.ReadAsStringAsync());
        var events = await feed.TakeAsync(4);
        Assert.Equal([$"{K("a")} set {{\"x\":1}}", $"{K("b")} delete -", $"{K("c")} incr 2 2", $"{K("c")} incr 3 1"],
            events.Select(Describe));

        // Undone at its last operation: the earlier ones were applied inside the script, and none may be recorded.
        var undone = await _client.PostAsync("/state/transaction", Http.Json($$$"""
            {"operations": [{"op": "set", "key": "{{{K("a")}}}", "value": 2},
                            {"op": "delete", "key": "{{{K("c")}}}"},
                            {"op": "incr", "key": "{{{K("text")}}}"}]}
            """));
        Assert.Equal(HttpStatusCode.Conflict, undone.StatusCode);
        var failedCondition = await _client.PostAsync("/state/transaction", Http.Json($$$"""
            {"operations": [{"op": "set", "key": "{{{K("a")}}}", "value": 3},
                            {"op": "set", "key": "{{{K("c")}}}", "value": 4, "if_match": "\"0000\""}]}
            """));
        Assert.Equal(HttpStatusCode.PreconditionFailed, failedCondition.StatusCode);
        await MarkAsync(feed);
    }

    [Fact]
    public async Task ABulkSetRecordsEachKeyWithOrWithoutALifetime()
    {
        await using var feed = await WatchAsync();
        foreach (var ttl in new[] { "", "?ttl_seconds=60" })
        {
            var bulk = await _client.PostAsync($"/state/bulk{ttl}", Http.Json($$$"""
                {"values": {"{{{K("x")}}}": 1, "{{{K("y")}}}": {"z": true}, "{{{K("w")}}}": "s"}}
                """));
            Assert.True(bulk.StatusCode == HttpStatusCode.OK, await bulk.Content.ReadAsStringAsync());
            var events = await feed.TakeAsync(3);
            Assert.Equal([$"{K("w")} set \"s\"", $"{K("x")} set 1", $"{K("y")} set {{\"z\":true}}"],
                events.Select(Describe).Order(StringComparer.Ordinal));
        }
        await MarkAsync(feed);
    }

    [Fact]
    public async Task AKeyWhoseLifetimeRanOutIsAnExpireChangeOnceSweptOrListed()
    {
        await using var feed = await WatchAsync();
        var key = K("short");
        Assert.True((await SendAsync(HttpMethod.Put, Path(key) + "?ttl_seconds=1", "1")).IsSuccessStatusCode);
        Assert.Equal($"{key} set 1", Describe(await feed.NextAsync()));

        // A listing sweeps the bucket first, so the expiry is recorded without waiting for the periodic sweep.
        await Poll.UntilAsync(async () =>
        {
            var listing = await (await _client.GetAsync($"/state?prefix={Uri.EscapeDataString(_prefix)}")).ReadJsonAsync();
            return listing.GetProperty("keys").EnumerateArray().All(k => k.GetString() != key);
        }, because: "the key expires after its second and a listing takes it out of the index");
        var expired = await feed.NextAsync();
        Assert.Equal($"{key} expire -", Describe(expired));
        Assert.False(expired.Json.TryGetProperty("etag", out _));
        await MarkAsync(feed);
    }

    [Fact]
    public async Task AKeyDeletedBeforeItsLifetimeRanOutIsADeleteChangeOnlyNeverAnExpire()
    {
        await using var feed = await WatchAsync();
        var (deleted, kept) = (K("deleted-early"), K("expires"));
        Assert.True((await SendAsync(HttpMethod.Put, Path(deleted) + "?ttl_seconds=1", "1")).IsSuccessStatusCode);
        Assert.True((await SendAsync(HttpMethod.Put, Path(kept) + "?ttl_seconds=1", "2")).IsSuccessStatusCode);
        Assert.True((await SendAsync(HttpMethod.Delete, Path(deleted))).IsSuccessStatusCode);
        Assert.Equal([$"{deleted} set 1", $"{kept} set 2", $"{deleted} delete -"],
            [Describe(await feed.NextAsync()), Describe(await feed.NextAsync()), Describe(await feed.NextAsync())]);

        // The deleted key's lifetime ends no later than the kept one's, so the sweep that finds the kept key expired has
        // passed the deleted one too: the next change is the kept key's expiry.
        await Poll.UntilAsync(async () =>
        {
            var listing = await (await _client.GetAsync($"/state?prefix={Uri.EscapeDataString(_prefix)}")).ReadJsonAsync();
            return listing.GetProperty("keys").EnumerateArray().All(k => k.GetString() != kept);
        }, because: "the kept key expires after its second and a listing takes it out of the index");
        Assert.Equal($"{kept} expire -", Describe(await feed.NextAsync()));
        await MarkAsync(feed);
    }
}
