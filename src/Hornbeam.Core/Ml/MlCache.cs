using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hornbeam.Redis;
using Hornbeam.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Ml;

/// <summary>
/// The Redis implementation of <see cref="IMlCache"/>. A call looks up the entry and, on a miss, claims the key in one
/// script; the claimant runs the function and stores the result, while other callers (on any replica) wait for a
/// notification on the key's channel, bounded by <see cref="MlCacheOptions.LockTimeoutMs"/>. CachedInferenceAsync is
/// LookupAsync, the function, then a store or a release; a client running the function itself calls those three over REST.
/// </summary>
internal sealed class MlCache(IConnectionMultiplexer redis, RedisKeys keys, RedisChannels channels,
    IOptions<HornbeamOptions> hornbeam, IOptions<MlCacheOptions> options, ILogger<MlCache> logger) : IMlCache
{
    // Expired index members are pruned only once they are this old, so replicas with skewed clocks never drop a live one.
    private const long PruneSlackMs = 60_000;
    private static readonly JsonWriterOptions CompactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly byte[] NullJson = "null"u8.ToArray();
    private static readonly RedisValue[] CounterFields = ["hits", "misses"];

    private readonly MlCacheOptions _options = options.Value;

    private IDatabase Db => redis.GetDatabase();

    public async Task<MlCacheResult> CachedInferenceAsync(Func<JsonElement, CancellationToken, Task<JsonElement>> fn, JsonElement input,
        string? cacheKey = null, string cachePrefix = "ml", TimeSpan? ttl = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(fn);
        ValidatePrefix(cachePrefix);
        var ttlMs = TtlMs(ttl);
        var lookup = await LookupAsync(cacheKey ?? MlCanonicalJson.CacheKey(cachePrefix, input), cachePrefix, ct);
        if (lookup.Json is { } hit) return new MlCacheResult(hit, true, lookup.CacheKey);

        var key = new EntryKeys(keys, cachePrefix, lookup.CacheKey);
        JsonElement result;
        try
        {
            result = await fn(input, ct);
        }
        catch
        {
            await ReleaseQuietlyAsync(key, lookup.Claim);
            throw;
        }
        if (result.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            await ReleaseQuietlyAsync(key, lookup.Claim);
            return new MlCacheResult(NullJson, false, key.CacheKey);
        }
        var json = Compact(result);
        await StoreAsync(key, json, lookup.Claim, ttlMs);
        return new MlCacheResult(json, false, key.CacheKey);
    }

    public async Task<MlCacheLookup> LookupAsync(string cacheKey, string cachePrefix = "ml", CancellationToken ct = default)
    {
        ValidatePrefix(cachePrefix);
        ValidateKey(cacheKey);
        var key = new EntryKeys(keys, cachePrefix, cacheKey);
        var lease = TimeSpan.FromMilliseconds(_options.LockTimeoutMs);
        string? claim = Guid.NewGuid().ToString("N");

        var attempt = await LookupOrClaimAsync(key, claim, ct);
        if (!attempt.Claimed && attempt.Hit is null) attempt = await WaitForOtherAsync(key, claim, ct);
        if (attempt.Hit is { } hit)
        {
            HornbeamMetrics.CacheLookups.Add(1, new KeyValuePair<string, object?>("result", "hit"));
            return new MlCacheLookup(key.CacheKey, hit, null, lease);
        }
        HornbeamMetrics.CacheLookups.Add(1, new KeyValuePair<string, object?>("result", "miss"));
        if (!attempt.Claimed)
        {
            // Waited long enough: compute without the claim, counting the miss the claim script would have counted.
            claim = null;
            await Db.HashIncrementAsync(key.Stats, "misses").WaitAsync(ct);
        }
        try
        {
            await Db.SetAddAsync(keys.MlPrefixes, key.Prefix);
        }
        catch
        {
            await ReleaseQuietlyAsync(key, claim);
            throw;
        }
        return new MlCacheLookup(key.CacheKey, null, claim, lease);
    }

    public async Task<bool> StoreAsync(string cacheKey, JsonElement result, string? claim, string cachePrefix = "ml", TimeSpan? ttl = null)
    {
        ValidatePrefix(cachePrefix);
        ValidateKey(cacheKey);
        var ttlMs = TtlMs(ttl);
        if (result.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "The result is null, and a null result is not cached; release the claim instead.");
        return await StoreAsync(new EntryKeys(keys, cachePrefix, cacheKey), Compact(result), claim, ttlMs);
    }

    public async Task<bool> ReleaseAsync(string cacheKey, string claim, string cachePrefix = "ml")
    {
        ValidatePrefix(cachePrefix);
        ValidateKey(cacheKey);
        if (string.IsNullOrEmpty(claim))
            throw new HornbeamException(HornbeamError.InvalidInput, "claim is empty; give the claim the lookup answered.");
        var key = new EntryKeys(keys, cachePrefix, cacheKey);
        var released = (long)await Db.ScriptEvaluateAsync(RedisScripts.MlRelease, [key.Lock], [claim]) == 1;
        // A claim that was no longer this caller's leaves its holder's waiters asleep.
        if (released) await Db.PublishAsync(key.Done, 1);
        return released;
    }

    private async Task<Attempt> LookupOrClaimAsync(EntryKeys key, string claim, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        // Not abandoned on cancellation: a claim taken but never seen would make other callers wait for nothing.
        var result = await Db.ScriptEvaluateAsync(RedisScripts.MlLookupOrClaim, [key.Entry, key.Lock, key.Stats],
            [claim, _options.LockTimeoutMs]);
        var parts = (RedisResult[])result!;
        return (int)parts[0] switch
        {
            1 => new Attempt((byte[])parts[1]!, false),
            2 => new Attempt(null, true),
            _ => new Attempt(null, false),
        };
    }

    // Pub/sub delivers at most once: a wake-up lost (a subscription not yet live on a new replica, a reconnect) must cost
    // a waiter a short re-check, not the whole lock timeout. Re-checks start at 50 ms and back off to 1 s.
    private static readonly TimeSpan FirstRecheck = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestRecheck = TimeSpan.FromSeconds(1);

    private async Task<Attempt> WaitForOtherAsync(EntryKeys key, string claim, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * _options.LockTimeoutMs / 1000;
        using var wake = await channels.WaitOnAsync(key.Done);
        var recheck = FirstRecheck;
        while (true)
        {
            // Looked up again once subscribed: a result stored before the subscription existed would wake no one.
            var attempt = await LookupOrClaimAsync(key, claim, ct);
            if (attempt.Claimed || attempt.Hit is not null) return attempt;
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero) return attempt;
            if (!await wake.WaitAsync(remaining < recheck ? remaining : recheck, ct))
                recheck = recheck * 2 < LongestRecheck ? recheck * 2 : LongestRecheck;
        }
    }

    private async Task<bool> StoreAsync(EntryKeys key, byte[] json, string? claim, long ttlMs)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        RedisValue expiry = ttlMs > 0 ? now + ttlMs : "+inf";
        // Not cancellable: a result that cost a computation is worth keeping for the callers waiting on it.
        var store = Db.ScriptEvaluateAsync(RedisScripts.MlStore, [key.Entry, key.Index, key.Lock],
            [json, ttlMs, expiry, key.CacheKey, now - PruneSlackMs, claim ?? ""]);
        var wake = Db.PublishAsync(key.Done, 1);
        await Task.WhenAll(store, wake);
        return (long)await store == 1;
    }

    // Hands the key to the next caller at once (instead of after the claim expires) when there is nothing to cache.
    private async Task ReleaseQuietlyAsync(EntryKeys key, string? claim)
    {
        try
        {
            if (claim is not null) await Db.ScriptEvaluateAsync(RedisScripts.MlRelease, [key.Lock], [claim]);
            await Db.PublishAsync(key.Done, 1);
        }
        catch (Exception e) when (e is RedisException or RedisTimeoutException)
        {
            logger.LogWarning(e, "Could not release the claim on cache key {CacheKey}; it expires by itself.", key.CacheKey);
        }
    }

    public async Task<MlCacheStatsReport> StatsAsync(string? prefix = null)
    {
        string[] prefixes;
        if (prefix is not null)
        {
            ValidatePrefix(prefix);
            prefixes = [prefix];
        }
        else
        {
            prefixes = (await Db.SetMembersAsync(keys.MlPrefixes)).Select(p => (string)p!).Order(StringComparer.Ordinal).ToArray();
        }
        var counters = await Task.WhenAll(prefixes.Select(p => Db.HashGetAsync(keys.MlStats(p), CounterFields)));
        var byPrefix = new Dictionary<string, MlCacheStats>(prefixes.Length, StringComparer.Ordinal);
        long hits = 0, misses = 0;
        for (var i = 0; i < prefixes.Length; i++)
        {
            var stats = new MlCacheStats(ToLong(counters[i][0]), ToLong(counters[i][1]));
            byPrefix[prefixes[i]] = stats;
            hits += stats.Hits;
            misses += stats.Misses;
        }
        return new MlCacheStatsReport(new MlCacheStats(hits, misses), byPrefix);
    }

    public async Task<long> ClearAsync(string prefix)
    {
        ValidatePrefix(prefix);
        var index = keys.MlIndex(prefix);
        // Bounded by the size at the start, so callers that keep storing cannot keep the clear going forever.
        var budget = await Db.SortedSetLengthAsync(index);
        long removed = 0;
        while (budget > 0)
        {
            var members = await Db.SortedSetRangeByRankAsync(index, 0, Math.Min(budget, _options.ClearBatchSize) - 1);
            if (members.Length == 0) break;
            RedisKey[] batch = [index, .. members.Select(m => keys.MlEntry(prefix, (string)m!))];
            removed += (long)await Db.ScriptEvaluateAsync(RedisScripts.MlClearBatch, batch, members);
            budget -= members.Length;
        }
        return removed;
    }

    private long TtlMs(TimeSpan? ttl)
    {
        if (ttl is { } given)
        {
            if (given < TimeSpan.FromMilliseconds(1))
                throw new HornbeamException(HornbeamError.InvalidInput,
                    $"ttl must be at least 1 ms; it was {given}. Give none to use the default.");
            return (long)Math.Ceiling(given.TotalMilliseconds);
        }
        return _options.DefaultTtlSeconds is { } seconds ? seconds * 1000L : 0;
    }

    private void ValidatePrefix(string prefix)
    {
        if (string.IsNullOrEmpty(prefix))
            throw new HornbeamException(HornbeamError.InvalidInput, "cache_prefix is empty; give a non-empty prefix such as 'ml'.");
        if (prefix.AsSpan().IndexOfAny('{', '}') >= 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"cache_prefix '{prefix}' contains '{{' or '}}'; those characters are not allowed in a prefix.");
        var bytes = Encoding.UTF8.GetByteCount(prefix);
        if (bytes > hornbeam.Value.MaxKeyBytes)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"cache_prefix is {bytes} bytes long; at most {hornbeam.Value.MaxKeyBytes} UTF-8 bytes are allowed.");
    }

    private void ValidateKey(string cacheKey)
    {
        if (cacheKey.Length == 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "cache_key is empty; give a non-empty key, or none to derive it from the input.");
        var bytes = Encoding.UTF8.GetByteCount(cacheKey);
        if (bytes > hornbeam.Value.MaxKeyBytes)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"cache_key is {bytes} bytes long; at most {hornbeam.Value.MaxKeyBytes} UTF-8 bytes are allowed.");
    }

    private static byte[] Compact(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, CompactJson)) value.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    private static long ToLong(RedisValue value) => value.IsNull ? 0 : (long)value;

    private readonly record struct Attempt(byte[]? Hit, bool Claimed);

    private readonly struct EntryKeys(RedisKeys keys, string cachePrefix, string cacheKey)
    {
        public string Prefix { get; } = cachePrefix;
        public string CacheKey { get; } = cacheKey;
        public RedisKey Entry { get; } = keys.MlEntry(cachePrefix, cacheKey);
        public RedisKey Lock { get; } = keys.MlLock(cachePrefix, cacheKey);
        public RedisKey Stats { get; } = keys.MlStats(cachePrefix);
        public RedisKey Index { get; } = keys.MlIndex(cachePrefix);
        public RedisChannel Done { get; } = keys.MlDone(cachePrefix, cacheKey);
    }
}
