using Hornbeam.Api.Access;
using Hornbeam.Ml;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hornbeam.Api.Ml;

/// <summary>The inference cache over REST: the seed's cache_stats, and clearing a prefix.</summary>
public static class MlApi
{
    public static RouteGroupBuilder MapMl(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/ml").WithTags("Ml").RequireScope(Scopes.Invoke);

        group.MapGet("/cache/stats", Stats).WithName("MlCacheStats")
            .WithSummary("cache_stats: hits, misses and hit rate across all replicas, in total and per cache prefix")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapDelete("/cache", Clear).WithName("MlCacheClear")
            .WithSummary("Remove every cached entry of one cache prefix and answer how many were removed")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static async Task<Ok<MlCacheStatsResponse>> Stats(IMlCache cache, string? prefix = null)
    {
        var report = await cache.StatsAsync(prefix);
        var total = report.Total;
        return TypedResults.Ok(new MlCacheStatsResponse(total.Hits, total.Misses, total.Total, total.HitRate,
            report.Prefixes.ToDictionary(p => p.Key, p => MlCacheCounts.From(p.Value), StringComparer.Ordinal)));
    }

    // prefix is required, so clearing never falls back to a default prefix by accident.
    public static async Task<Ok<MlCacheCleared>> Clear(IMlCache cache, string prefix) =>
        TypedResults.Ok(new MlCacheCleared(await cache.ClearAsync(prefix)));
}

/// <summary>cache_stats: counts over all prefixes, and each prefix's own. A hit is a call answered from the cache, a miss a call that ran the function.</summary>
public sealed record MlCacheStatsResponse(long Hits, long Misses, long Total, double HitRate, Dictionary<string, MlCacheCounts> Prefixes);

/// <summary>One cache prefix's counts; <c>hit_rate</c> is 0.0 when <c>total</c> is 0.</summary>
public sealed record MlCacheCounts(long Hits, long Misses, long Total, double HitRate)
{
    internal static MlCacheCounts From(MlCacheStats stats) => new(stats.Hits, stats.Misses, stats.Total, stats.HitRate);
}

/// <summary>How many entries clearing the prefix removed (entries that had already expired are not counted).</summary>
public sealed record MlCacheCleared(long Removed);
