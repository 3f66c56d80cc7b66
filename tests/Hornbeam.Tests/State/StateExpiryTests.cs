using System.Net;
using Hornbeam.Redis;
using Hornbeam.State;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.State;

/// <summary>Keys with a lifetime (ttl_seconds): they expire, a listing never names them, and the index lets them go.</summary>
[Trait("Redis", "Cluster")]
public sealed class StateExpiryTests(ApiHost host) : IClassFixture<ApiHost>
{
    private readonly HttpClient _client = host.Client;
    private readonly string _id = Guid.NewGuid().ToString("N")[..12];
    private string K(string key) => $"{_id}:{key}";

    private async Task<bool> GoneAsync(string key) => (await _client.GetAsync($"/state/{key}")).StatusCode == HttpStatusCode.NotFound;

    private async Task<string[]> KeysAsync(string prefix) =>
        (await (await _client.GetAsync($"/state?prefix={Uri.EscapeDataString(prefix)}")).ReadJsonAsync())
        .GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray();

    [Fact]
    public async Task ManyReadsAtOnceEachGetTheirOwnKeysLifetime()
    {
        // Reads queued together have their lifetimes asked in one script per slot: each must get its own key's answer.
        var keys = Enumerable.Range(0, 60).Select(i => K($"many:{{{_id}}}:{i}")).ToArray();
        await Task.WhenAll(keys.Select((key, i) => _client.PutAsync(
            i % 3 == 0 ? $"/state/{key}" : $"/state/{key}?ttl_seconds={100 * i}", Http.Json(i.ToString()))));
        for (var round = 0; round < 3; round++)
        {
            var answers = await Task.WhenAll(keys.Select(key => _client.GetAsync($"/state/{key}")));
            for (var i = 0; i < keys.Length; i++)
            {
                Assert.Equal(i, (await answers[i].ReadJsonAsync()).GetProperty("value").GetInt32());
                if (i % 3 == 0) Assert.False(answers[i].Headers.Contains("Hornbeam-Ttl-Seconds"), keys[i]);
                else Assert.InRange(int.Parse(answers[i].Headers.GetValues("Hornbeam-Ttl-Seconds").Single()), 100 * i - 5, 100 * i);
            }
        }
    }

    [Fact]
    public async Task ACounterWithATtlExpiresAndRestartsAtDeltaAndKeysNeverListsIt()
    {
        var key = K("rate:user:1");
        var first = await (await _client.PostAsync($"/state/incr/{key}?delta=5&ttl_seconds=2", null)).ReadJsonAsync();
        Assert.Equal(5, first.GetProperty("value").GetInt64());
        // Later increments in the window leave the lifetime as the first one set it.
        Assert.Equal(6, (await (await _client.PostAsync($"/state/incr/{key}?ttl_seconds=100", null)).ReadJsonAsync())
            .GetProperty("value").GetInt64());
        var got = await _client.GetAsync($"/state/{key}");
        Assert.Contains(got.Headers.GetValues("Hornbeam-Ttl-Seconds").Single(), new[] { "1", "2" });
        Assert.Equal([key], await KeysAsync(K("rate:")));

        await Poll.UntilAsync(() => GoneAsync(key), because: "the counter expires after its two seconds");
        Assert.Empty(await KeysAsync(K("rate:")));
        var again = await (await _client.PostAsync($"/state/incr/{key}?delta=5&ttl_seconds=60", null)).ReadJsonAsync();
        Assert.Equal(5, again.GetProperty("value").GetInt64());
        var seconds = int.Parse((await _client.GetAsync($"/state/{key}")).Headers.GetValues("Hornbeam-Ttl-Seconds").Single());
        Assert.InRange(seconds, 59, 60);
    }

    [Fact]
    public async Task AnIncrWithATtlAndAnIdempotencyKeyAppliesOnceAndSetsTheLifetime()
    {
        var key = K("once");
        var once = Guid.NewGuid().ToString();
        long[] values = new long[2];
        for (var i = 0; i < 2; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/state/incr/{key}?delta=4&ttl_seconds=30");
            request.Headers.Add("Idempotency-Key", once);
            values[i] = (await (await _client.SendAsync(request)).ReadJsonAsync()).GetProperty("value").GetInt64();
        }
        Assert.Equal([4L, 4L], values);
        Assert.True((await _client.GetAsync($"/state/{key}")).Headers.Contains("Hornbeam-Ttl-Seconds"));
    }

    [Fact]
    public async Task DecrWithATtlSetsItToo()
    {
        var key = K("quota");
        Assert.Equal(-3, (await (await _client.PostAsync($"/state/decr/{key}?delta=3&ttl_seconds=30", null)).ReadJsonAsync())
            .GetProperty("value").GetInt64());
        Assert.True((await _client.GetAsync($"/state/{key}")).Headers.Contains("Hornbeam-Ttl-Seconds"));
    }

    [Fact]
    public async Task APutWithATtlExpiresAndAPutWithoutOneClearsIt()
    {
        var (fleeting, kept) = (K("session:a"), K("session:b"));
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PutAsync($"/state/{fleeting}?ttl_seconds=1", Http.Json("1"))).StatusCode);
        await _client.PutAsync($"/state/{kept}?ttl_seconds=1", Http.Json("2"));
        await _client.PutAsync($"/state/{kept}", Http.Json("3"));
        Assert.False((await _client.GetAsync($"/state/{kept}")).Headers.Contains("Hornbeam-Ttl-Seconds"), "a plain PUT ends the lifetime");

        await Poll.UntilAsync(() => GoneAsync(fleeting), because: "the value expires after its second");
        Assert.Equal([kept], await KeysAsync(K("session:")));
        Assert.Equal(3, (await (await _client.GetAsync($"/state/{kept}")).ReadJsonAsync()).GetProperty("value").GetInt32());
    }

    [Fact]
    public async Task AnIncrWithATtlOnAnExistingCounterLeavesItWithoutOne()
    {
        var key = K("total");
        await _client.PutAsync($"/state/{key}", Http.Json("10"));
        Assert.Equal(11, (await (await _client.PostAsync($"/state/incr/{key}?ttl_seconds=1", null)).ReadJsonAsync())
            .GetProperty("value").GetInt64());
        Assert.False((await _client.GetAsync($"/state/{key}")).Headers.Contains("Hornbeam-Ttl-Seconds"));
    }

    [Fact]
    public async Task ManyExpiredKeysOfOneBucketAreNeverListedAndLeaveTheIndex()
    {
        // One hash tag puts them all in one bucket, more than one sweep takes at a time: the listing skips the rest itself.
        var tag = $"{{{_id}}}";
        var values = string.Join(",", Enumerable.Range(0, StateStore.SweepBatch + 100).Select(i => $"\"{tag}:old:{i:D4}\": {i}"));
        var bulk = await _client.PostAsync("/state/bulk?ttl_seconds=1", Http.Json($"{{\"values\": {{{values}}}}}"));
        Assert.True(bulk.StatusCode == HttpStatusCode.OK, await bulk.Content.ReadAsStringAsync());
        await _client.PutAsync($"/state/{tag}:old:live", Http.Json("true"));

        await Poll.UntilAsync(() => GoneAsync($"{tag}:old:0000"), because: "the values expire after their second");
        await Poll.UntilAsync(async () => (await KeysAsync($"{tag}:old:")).SequenceEqual([$"{tag}:old:live"]),
            because: "a listing names only the live key");

        var services = host.Api.Services;
        var keys = services.GetRequiredService<RedisKeys>();
        var db = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<StateExpirySweep>().Single()
            .SweepAsync(CancellationToken.None);
        foreach (var i in new[] { 0, 1, StateStore.SweepBatch, StateStore.SweepBatch + 99 })
        {
            Assert.Null(await db.SortedSetScoreAsync(keys.StateIndexFor(tag), $"{tag}:old:{i:D4}"));
            Assert.Null(await db.SortedSetScoreAsync(keys.StateExpiryFor(tag), $"{tag}:old:{i:D4}"));
        }
        Assert.NotNull(await db.SortedSetScoreAsync(keys.StateIndexFor(tag), $"{tag}:old:live"));
    }
}
