using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Redis;
using Hornbeam.State;
using Hornbeam.Tests.Infrastructure;
using Hornbeam.Tests.PubSub;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.State;

/// <summary>
/// The change feed, GET /state/changes: every write under a prefix, from any replica, in order per key, resumable by
/// Last-Event-ID, with a gap where it cannot resume.
/// </summary>
[Trait("Redis", "Cluster")]
public sealed class StateChangesTests(ReplicaPair replicas) : IClassFixture<ReplicaPair>
{
    // The replicas are shared, so each test watches a prefix of its own.
    private readonly string _prefix = $"feed:{Guid.NewGuid():N}:";

    private static Task<SseStream> WatchAsync(HornbeamApiFactory host, string prefix, string? lastEventId = null) =>
        SseStream.OpenAsync(host.CreateClient(), $"/state/changes?prefix={Uri.EscapeDataString(prefix)}", lastEventId);

    private static async Task WriteAsync(HttpClient client, string op, string key, string? json = null)
    {
        var response = op switch
        {
            "set" => await client.PutAsync($"/state/{key}", Http.Json(json!)),
            "delete" => await client.DeleteAsync($"/state/{key}"),
            _ => await client.PostAsync($"/state/incr/{key}", null),
        };
        Assert.True(response.IsSuccessStatusCode, $"{op} {key} answered {(int)response.StatusCode}");
    }

    private static string Describe(SseEvent e)
    {
        // Anything but a change (a gap, or the stream's end) shows as itself, so an assertion says what came instead.
        if (e.Event != "message") return $"{e.Event} {e.Data}";
        var json = e.Json;
        var value = json.TryGetProperty("value", out var v) ? v.GetRawText() : "-";
        return $"{json.GetProperty("key").GetString()} {json.GetProperty("op").GetString()} {value}";
    }

    [Fact]
    public async Task WritesFromTwoReplicasArriveInOrderPerKeyAndNothingOutsideThePrefix()
    {
        await using var feed = await WatchAsync(replicas.A, _prefix);
        HttpClient[] clients = [replicas.A.CreateClient(), replicas.B.CreateClient()];
        var expected = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var client = clients[i % 2];
            var key = $"{_prefix}k{i % 3}";
            await WriteAsync(client, "set", key, $"{{\"n\":{i}}}");
            expected.Add($"{key} set {{\"n\":{i}}}");
            await WriteAsync(client, "delete", $"other:{_prefix}k{i}");
            await WriteAsync(clients[(i + 1) % 2], "delete", key);
            expected.Add($"{key} delete -");
            await WriteAsync(client, "incr", key);
            expected.Add($"{key} incr 1");
        }

        var events = await feed.TakeAsync(expected.Count);
        Assert.All(events, e => Assert.Equal("message", e.Event));
        Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.Id)));
        foreach (var key in Enumerable.Range(0, 3).Select(k => $"{_prefix}k{k}"))
            Assert.Equal(expected.Where(x => x.StartsWith(key + " ")), events.Select(Describe).Where(x => x.StartsWith(key + " ")));
        // Versions grow per key.
        foreach (var group in events.GroupBy(e => e.Json.GetProperty("key").GetString()))
        {
            var versions = group.Select(e => e.Json.GetProperty("version").GetString()!.Split('-').Select(ulong.Parse).ToArray()).ToList();
            for (var i = 1; i < versions.Count; i++)
                Assert.True(versions[i][0] > versions[i - 1][0]
                            || versions[i][0] == versions[i - 1][0] && versions[i][1] > versions[i - 1][1]);
        }
        await WriteAsync(clients[0], "set", $"other:{_prefix}x", "1");
        await WriteAsync(clients[0], "set", $"{_prefix}last", "2");
        Assert.Equal($"{_prefix}last set 2", Describe(await feed.NextAsync()));
    }

    [Fact]
    public async Task ResumingWithLastEventIdOnTheOtherReplicaGetsExactlyTheMissedChanges()
    {
        var client = replicas.A.CreateClient();
        string seen;
        await using (var feed = await WatchAsync(replicas.A, _prefix))
        {
            await WriteAsync(client, "set", $"{_prefix}a", "1");
            await WriteAsync(client, "incr", $"{_prefix}n");
            var first = await feed.TakeAsync(2);
            seen = first[1].Id!;
        }
        await WriteAsync(client, "set", $"{_prefix}a", "2");
        await WriteAsync(client, "incr", $"{_prefix}n");
        await WriteAsync(client, "delete", $"{_prefix}a");

        await using var header = await WatchAsync(replicas.B, _prefix, seen);
        Assert.Equal(seen, header.StartsAfterId);
        // In order per key; keys of different buckets may come in either order.
        var missed = (await header.TakeAsync(3)).Select(Describe).ToList();
        Assert.Equal([$"{_prefix}a set 2", $"{_prefix}a delete -"], missed.Where(m => m.StartsWith($"{_prefix}a ")));
        Assert.Equal([$"{_prefix}n incr 2"], missed.Where(m => m.StartsWith($"{_prefix}n ")));
        // The query parameter, for clients that cannot set headers, resumes the same.
        await using var query = await SseStream.OpenAsync(replicas.B.CreateClient(),
            $"/state/changes?prefix={Uri.EscapeDataString(_prefix)}&last_event_id={Uri.EscapeDataString(seen)}");
        Assert.Equal(missed.Order(), (await query.TakeAsync(3)).Select(Describe).Order());
        await WriteAsync(client, "set", $"{_prefix}z", "true");
        Assert.Equal($"{_prefix}z set true", Describe(await header.NextAsync()));
        Assert.Equal($"{_prefix}z set true", Describe(await query.NextAsync()));
    }

    [Fact]
    public async Task AnIdAheadOfTheFeedGetsAGapAndTheFeedGoesOn()
    {
        string start;
        await using (var feed = await WatchAsync(replicas.A, _prefix)) start = feed.StartsAfterId;
        var ahead = AheadOf(start);
        await using var resumed = await WatchAsync(replicas.B, _prefix, ahead);
        var gap = await resumed.NextAsync();
        Assert.Equal("gap", gap.Event);
        Assert.Equal(ahead, gap.Json.GetProperty("last_event_id").GetString());
        Assert.Equal(gap.Id, gap.Json.GetProperty("resumes_after").GetString());
        await WriteAsync(replicas.A.CreateClient(), "set", $"{_prefix}after", "1");
        Assert.Equal($"{_prefix}after set 1", Describe(await resumed.NextAsync()));
    }

    // A well-formed position a day after the given one, in every bucket.
    private static string AheadOf(string id)
    {
        var position = StateChangePosition.TryParse(id)!.Value;
        var later = StateChangePosition.Start();
        for (var b = 0; b < RedisKeys.StateBuckets; b++) later.Set(b, (position[b].Ms + 86_400_000, 0));
        return later.ToString();
    }

    [Fact]
    public async Task BadInputIsAProblemAndWithoutAPrefixTheRouteStillReadsTheKeyChanges()
    {
        var client = replicas.A.CreateClient();
        await (await client.GetAsync("/state/changes?prefix=")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.GetAsync($"/state/changes?prefix={new string('p', 2000)}")).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        var request = new HttpRequestMessage(HttpMethod.Get, $"/state/changes?prefix={_prefix}");
        request.Headers.Add("Last-Event-ID", "not an id!");
        await (await client.SendAsync(request)).AssertProblemAsync(400, ProblemTypes.InvalidInput);

        // Other tests in this class never write the key 'changes' itself.
        await client.PutAsync("/state/changes", Http.Json("{\"a\":1}"));
        var read = await (await client.GetAsync("/state/changes")).ReadJsonAsync();
        Assert.Equal(1, read.GetProperty("value").GetProperty("a").GetInt32());
    }

    [Fact]
    public async Task TheCSharpFeedSeesWritesOfTheOtherReplica()
    {
        var changes = replicas.A.Services.GetRequiredService<IStateChanges>();
        await using var feed = await changes.WatchAsync(_prefix);
        await replicas.B.Services.GetRequiredService<IStateStore>().SetAsync($"{_prefix}c", new { n = 1 });
        await replicas.B.Services.GetRequiredService<IStateStore>().IncrementAsync($"{_prefix}d", 5);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var got = new List<StateChange>();
        await foreach (var change in feed.WithCancellation(deadline.Token))
        {
            got.Add(change);
            if (got.Count == 2) break;
        }
        // Two keys, likely of two buckets: either may come first.
        var set = got.Single(c => c.Key == $"{_prefix}c");
        var incr = got.Single(c => c.Key == $"{_prefix}d");
        Assert.Equal((StateChange.Set, "{\"n\":1}"), (set.Op, System.Text.Encoding.UTF8.GetString(set.Value!)));
        Assert.Equal((StateChange.Increment, 5L, "5"), (incr.Op, incr.Delta, System.Text.Encoding.UTF8.GetString(incr.Value!)));
    }
}
