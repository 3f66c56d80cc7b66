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
