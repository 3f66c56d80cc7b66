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

/// <summary>The feed's retention and lease, each on a host of its own with short settings.</summary>
[Trait("Redis", "Cluster")]
public sealed class StateChangesRetentionTests
{
    private readonly string _prefix = $"feed:{Guid.NewGuid():N}:";

    [Fact]
    public async Task AnIdWhoseChangesWereTrimmedGetsAGap()
    {
        await using var api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:StateChanges:MaxLength"] = "10",
        });
        var client = api.CreateClient();
        string seen;
        await using (var feed = await SseStream.OpenAsync(client, $"/state/changes?prefix={_prefix}"))
        {
            await client.PutAsync($"/state/{_prefix}first", Http.Json("1"));
            seen = (await feed.NextAsync()).Id!;
        }
        // Redis trims a stream by whole blocks of 100 entries: a few hundred in one bucket drop the first block.
        for (var i = 0; i < 400; i++) await client.PostAsync($"/state/incr/{_prefix}hot", null);
        await using var resumed = await SseStream.OpenAsync(client, $"/state/changes?prefix={_prefix}", seen);
        var gap = await resumed.NextAsync();
        Assert.Equal("gap", gap.Event);
        Assert.Contains("no longer kept", gap.Json.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task AWatcherGoneStopsTheRecordingAfterItsLeaseAndAResumeAfterItGetsAGap()
    {
        await using var api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:StateChanges:Lease"] = "00:00:01",
        });
        var client = api.CreateClient();
        var redis = api.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var keys = new RedisKeys(api.Prefix);
        var key = $"{_prefix}k";
        var bucket = RedisKeys.StateBucket(key);
        string seen;
        await using (var feed = await SseStream.OpenAsync(client, $"/state/changes?prefix={_prefix}"))
        {
            await client.PutAsync($"/state/{key}", Http.Json("1"));
            seen = (await feed.NextAsync()).Id!;
            Assert.True(await redis.HashExistsAsync(keys.StateWatch(bucket), _prefix));
        }
        await Poll.UntilAsync(async () => !await redis.HashExistsAsync(keys.StateWatch(bucket), _prefix),
            because: "the prefix's lease runs out once its watcher is gone");
        var length = await redis.StreamLengthAsync(keys.StateChanges(bucket));
        await client.PutAsync($"/state/{key}", Http.Json("2"));
        Assert.Equal(length, await redis.StreamLengthAsync(keys.StateChanges(bucket)));

        await using var resumed = await SseStream.OpenAsync(client, $"/state/changes?prefix={_prefix}", seen);
        var gap = await resumed.NextAsync();
        Assert.Equal("gap", gap.Event);
        Assert.Contains("unwatched", gap.Json.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task RedisGoneEndsTheFeedWithReconnectAndItResumesWhenRedisIsBack()
    {
        using var redis = await LocalRedisProcess.StartAsync();
        await using var api = new HornbeamApiFactory(redis.ConnectionString, TestPrefix.New());
        var client = api.CreateClient();
        string seen;
        await using (var feed = await SseStream.OpenAsync(client, $"/state/changes?prefix={_prefix}"))
        {
            await client.PutAsync($"/state/{_prefix}a", Http.Json("1"));
            seen = (await feed.NextAsync()).Id!;
            redis.Stop();
            var end = await feed.NextAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("reconnect", end.Event);
            Assert.Equal(seen, end.Json.GetProperty("last_event_id").GetString());
            Assert.NotNull(end.Retry);
        }
        await using (var refused = await SseStream.ConnectAsync(client, $"/state/changes?prefix={_prefix}", seen))
            Assert.Equal("reconnect", (await refused.NextAsync()).Event);

        await redis.RestartAsync();
        await Poll.UntilAsync(
            async () => (await client.PutAsync($"/state/{_prefix}b", Http.Json("2"))).StatusCode == HttpStatusCode.NoContent,
            because: "the service recovers when Redis returns");
        // Redis restarted empty: the feed cannot vouch for what happened meanwhile.
        await using var resumed = await SseStream.OpenAsync(client, $"/state/changes?prefix={_prefix}", seen);
        Assert.Equal("gap", (await resumed.NextAsync()).Event);
    }
}
