using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hornbeam.Ml;

/// <summary>The inference cache for C# types, and its registration.</summary>
public static class MlCacheExtensions
{
    /// <summary>
    /// cached_inference with C# types: <paramref name="input"/> and the result go through JSON (<paramref name="json"/>,
    /// default <see cref="JsonSerializerOptions.Default"/>), so the key and the cached entry are those a JSON caller would get.
    /// </summary>
    public static async Task<MlCacheResult<TOut>> CachedInferenceAsync<TIn, TOut>(this IMlCache cache, Func<TIn, Task<TOut>> fn, TIn input,
        string? cacheKey = null, string cachePrefix = "ml", TimeSpan? ttl = null, JsonSerializerOptions? json = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(fn);
        var element = JsonSerializer.SerializeToElement(input, json);
        var result = await cache.CachedInferenceAsync(async (_, _) => JsonSerializer.SerializeToElement(await fn(input), json),
            element, cacheKey, cachePrefix, ttl, ct);
        return new MlCacheResult<TOut>(JsonSerializer.Deserialize<TOut>(result.Json.Span, json), result.Cached, result.CacheKey);
    }

    internal static IServiceCollection AddMlCache(this IServiceCollection services)
    {
        services.AddValidatedOptions<MlCacheOptions, MlCacheOptionsValidator>(MlCacheOptions.Section);
        services.TryAddSingleton<IMlCache, MlCache>();
        return services;
    }
}
