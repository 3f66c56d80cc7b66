using System.Text.Json;

namespace Hornbeam.Ml;

/// <summary>
/// The inference cache, the seed's <c>hornbeam_ml</c> module (<c>cached_inference</c>, <c>cache_stats</c>), shared by
/// every replica through Redis. Results are cached as JSON under a cache key, counted as hits and misses per cache prefix,
/// and concurrent misses for one key run the function once.
/// </summary>
public interface IMlCache
{
    /// <summary>
    /// cached_inference: answers the cached result of <paramref name="input"/>, or runs <paramref name="fn"/> with it,
    /// caches a non-null result and answers that.
    /// </summary>
    /// <param name="fn">The inference function; it gets the input and is run at most once per miss across all replicas.</param>
    /// <param name="input">The function's single argument; unless <paramref name="cacheKey"/> is given, its canonical form
    /// (<see cref="MlCanonicalJson"/>) makes the key <c>{cachePrefix}:{32 hex digits of its SHA-256}</c>.</param>
    /// <param name="cacheKey">An explicit key, used as given. The entry still belongs to <paramref name="cachePrefix"/>:
    /// it is counted, expired and cleared with that prefix, and the same key under another prefix is another entry.</param>
    /// <param name="cachePrefix">The prefix that groups entries for stats and clearing; non-empty, without <c>{</c> or <c>}</c>.</param>
    /// <param name="ttl">How long the entry lives; null means <c>Hornbeam:Ml:DefaultTtlSeconds</c>, and when that is unset,
    /// forever.</param>
    /// <param name="ct">Gives up waiting; a result already being computed elsewhere is still cached.</param>
    /// <returns>The result as JSON, whether it came from the cache, and the cache key.</returns>
    Task<MlCacheResult> CachedInferenceAsync(Func<JsonElement, CancellationToken, Task<JsonElement>> fn, JsonElement input,
        string? cacheKey = null, string cachePrefix = "ml", TimeSpan? ttl = null, CancellationToken ct = default);

    /// <summary>
    /// The first half of cached_inference for a function the caller runs itself (in another process, over REST): answers
    /// the entry of <paramref name="cacheKey"/> (a hit), or a claim on the key (a miss), after which the caller computes and
    /// calls <see cref="StoreAsync"/> or <see cref="ReleaseAsync"/> with the claim. While another caller holds the claim
    /// it waits for that caller's result, as a concurrent miss of <see cref="CachedInferenceAsync"/> does, and is counted
    /// the same way.
    /// </summary>
    /// <param name="cacheKey">The key: the caller's explicit key, or <see cref="MlCanonicalJson.CacheKey"/> of the input.</param>
    /// <param name="cachePrefix">The prefix the entry belongs to, as in <see cref="CachedInferenceAsync"/>.</param>
    /// <param name="ct">Gives up waiting; a claim already taken is kept until its lease ends.</param>
    /// <returns>The entry on a hit; on a miss the claim, or no claim when the wait for another caller's result ran out
    /// (the caller computes and stores without one, as <see cref="CachedInferenceAsync"/> does then).</returns>
    Task<MlCacheLookup> LookupAsync(string cacheKey, string cachePrefix = "ml", CancellationToken ct = default);

    /// <summary>
    /// Caches <paramref name="result"/> under <paramref name="cacheKey"/>, releases <paramref name="claim"/> if it is still
    /// the caller's and wakes the callers waiting for it. The entry is written whether or not the claim is still held
    /// (a result for one key is the same whoever computed it), so a repeated or late store is harmless.
    /// </summary>
    /// <param name="cacheKey">The key the lookup answered.</param>
    /// <param name="result">The result; null is refused (a null result is not cached: release the claim instead).</param>
    /// <param name="claim">The lookup's claim, or null when it answered none.</param>
    /// <param name="cachePrefix">The prefix of the lookup.</param>
    /// <param name="ttl">As in <see cref="CachedInferenceAsync"/>.</param>
    /// <returns>True when the claim was still the caller's and is now released.</returns>
    Task<bool> StoreAsync(string cacheKey, JsonElement result, string? claim, string cachePrefix = "ml", TimeSpan? ttl = null);

    /// <summary>
    /// Gives up a claim without a result (the function failed, or answered null), so that a waiting caller claims the key
    /// at once instead of after the lease. A claim that is no longer the caller's is left alone.
    /// </summary>
    /// <returns>True when the claim was the caller's and is now released.</returns>
    Task<bool> ReleaseAsync(string cacheKey, string claim, string cachePrefix = "ml");

    /// <summary>cache_stats: hits and misses of every prefix, or of <paramref name="prefix"/> only, counted across all replicas.</summary>
    Task<MlCacheStatsReport> StatsAsync(string? prefix = null);

    /// <summary>
    /// Removes every entry of <paramref name="prefix"/>, a batch at a time, and answers how many entries it removed.
    /// Counters are kept.
    /// </summary>
    Task<long> ClearAsync(string prefix);
}

/// <summary>What <see cref="IMlCache.CachedInferenceAsync"/> answers.</summary>
/// <param name="Json">The result as UTF-8 JSON: on a hit, exactly the bytes the miss stored.</param>
/// <param name="Cached">True when the result came from the cache and the function did not run for this call.</param>
/// <param name="CacheKey">The key the result is cached under.</param>
public sealed record MlCacheResult(ReadOnlyMemory<byte> Json, bool Cached, string CacheKey)
{
    /// <summary>The result as a <see cref="JsonElement"/>.</summary>
    public JsonElement Result => JsonSerializer.Deserialize<JsonElement>(Json.Span);
}

/// <summary>What the generic <see cref="MlCacheExtensions.CachedInferenceAsync{TIn, TOut}"/> answers.</summary>
/// <param name="Result">The result, deserialized; default when the function answered null.</param>
/// <param name="Cached">True when the result came from the cache.</param>
/// <param name="CacheKey">The key the result is cached under.</param>
public sealed record MlCacheResult<T>(T? Result, bool Cached, string CacheKey);

/// <summary>Hit and miss counts. A hit is a call answered from the cache; a miss is a call that ran the function.</summary>
public sealed record MlCacheStats(long Hits, long Misses)
{
    /// <summary>Hits plus misses.</summary>
    public long Total => Hits + Misses;

    /// <summary>Hits divided by the total; 0.0 when there were no calls.</summary>
    public double HitRate => Total == 0 ? 0.0 : (double)Hits / Total;
}

/// <summary>cache_stats: the totals over all prefixes and each prefix's own counts.</summary>
public sealed record MlCacheStatsReport(MlCacheStats Total, IReadOnlyDictionary<string, MlCacheStats> Prefixes);
