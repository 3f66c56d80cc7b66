using System.Text.Json;
using Hornbeam.Api.Access;
using Hornbeam.Api.Json;
using Hornbeam.Hooks;
using Hornbeam.Ml;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Hornbeam.Api.Ml;

/// <summary>
/// The inference cache over REST: cached_inference of a hook action, or of a function the caller runs (lookup, then store
/// or release), the seed's cache_stats, and clearing a prefix.
/// </summary>
public static class MlApi
{
    public static RouteGroupBuilder MapMl(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/ml").WithTags("Ml").RequireScope(Scopes.Invoke);

        group.MapPost("/cached/{app_path}/{action}", CachedInference).WithName("MlCachedInference")
            .WithSummary("cached_inference: run a hook action on the input, or answer the result cached for that input")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status500InternalServerError).ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);
        group.MapPost("/cache/lookup", Lookup).WithName("MlCacheLookup")
            .WithSummary("cached_inference for a function the caller runs: the cached result, or a claim to compute and store it")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapPost("/cache/store", Store).WithName("MlCacheStore")
            .WithSummary("Cache the result computed under a lookup's claim; releases the claim and wakes the callers waiting for it")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapPost("/cache/release", Release).WithName("MlCacheRelease")
            .WithSummary("Give up a lookup's claim without a result (the function failed), so a waiting caller computes at once")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/cache/stats", Stats).WithName("MlCacheStats")
            .WithSummary("cache_stats: hits, misses and hit rate across all replicas, in total and per cache prefix")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapDelete("/cache", Clear).WithName("MlCacheClear")
            .WithSummary("Remove every cached entry of one cache prefix and answer how many were removed")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static async Task<RawJson<MlCachedResponse>> CachedInference([FromRoute(Name = "app_path")] string appPath, string action,
        MlCachedRequest request, IMlCache cache, IHooks hooks, HttpContext context)
    {
        HookNames.Validate(appPath, action);
        if (request.Input is not { } input)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "The body must be an object with an 'input', e.g. {\"input\": \"some text\"}.");
        if (request.TtlSeconds is <= 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"ttl_seconds must be a positive number of seconds; it was {request.TtlSeconds}.");
        TimeSpan? ttl = request.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;

        // On a miss the hook action runs with the input as its single argument, wherever in the cluster the hook lives.
        var result = await cache.CachedInferenceAsync(
            async (value, ct) => JsonAnswers.Checked(
                await hooks.ExecuteAsync(appPath, action, new HookArgs([value], new Dictionary<string, JsonElement>()), ct),
                $"Hook '{appPath}' action '{action}'"),
            input, request.CacheKey, request.CachePrefix ?? "ml", ttl, context.RequestAborted);
        return new RawJson<MlCachedResponse>(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("result"u8);
            w.WriteRawValue(result.Json.Span, skipInputValidation: true);
            w.WriteBoolean("cached"u8, result.Cached);
            w.WriteString("cache_key"u8, result.CacheKey);
            w.WriteEndObject();
        });
    }

    public static async Task<RawJson<MlCacheLookupResponse>> Lookup(MlCacheLookupRequest request, IMlCache cache, HttpContext context)
    {
        var prefix = request.CachePrefix ?? "ml";
        var key = request.CacheKey ?? (request.Input is { } input
            ? MlCanonicalJson.CacheKey(prefix, input)
            : throw new HornbeamException(HornbeamError.InvalidInput,
                "The body must be an object with an 'input' or a 'cache_key', e.g. {\"input\": \"some text\"}."));
        var lookup = await cache.LookupAsync(key, prefix, context.RequestAborted);
        return new RawJson<MlCacheLookupResponse>(w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("cached"u8, lookup.Cached);
            if (lookup.Json is { } json)
            {
                w.WritePropertyName("result"u8);
                w.WriteRawValue(json.Span, skipInputValidation: true);
            }
            w.WriteString("cache_key"u8, lookup.CacheKey);
            if (!lookup.Cached)
            {
                if (lookup.Claim is { } claim) w.WriteString("claim"u8, claim);
                else w.WriteNull("claim"u8);
                w.WriteNumber("lease_ms"u8, (long)lookup.Lease.TotalMilliseconds);
            }
            w.WriteEndObject();
        });
    }

    public static async Task<Ok<MlCacheStored>> Store(MlCacheStoreRequest request, IMlCache cache)
    {
        var key = request.CacheKey ?? throw new HornbeamException(HornbeamError.InvalidInput,
            "The body must name the 'cache_key' the lookup answered.");
        if (request.Result is not { } result)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "The body must hold a non-null 'result'; a null result is not cached: POST /ml/cache/release instead.");
        if (request.TtlSeconds is <= 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"ttl_seconds must be a positive number of seconds; it was {request.TtlSeconds}.");
        TimeSpan? ttl = request.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        var held = await cache.StoreAsync(key, result, request.Claim, request.CachePrefix ?? "ml", ttl);
        return TypedResults.Ok(new MlCacheStored(key, held));
    }

    public static async Task<Ok<MlCacheReleased>> Release(MlCacheReleaseRequest request, IMlCache cache)
    {
        if (request.CacheKey is not { } key || request.Claim is not { } claim)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "The body must name the 'cache_key' and the 'claim' the lookup answered.");
        return TypedResults.Ok(new MlCacheReleased(key, await cache.ReleaseAsync(key, claim, request.CachePrefix ?? "ml")));
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

/// <summary>
/// cache_stats: counts over all prefixes, and each prefix's own. A hit is a call answered from the cache, a miss a call
/// that ran the function.
/// </summary>
public sealed record MlCacheStatsResponse(long Hits, long Misses, long Total, double HitRate, Dictionary<string, MlCacheCounts> Prefixes);

/// <summary>One cache prefix's counts; <c>hit_rate</c> is 0.0 when <c>total</c> is 0.</summary>
public sealed record MlCacheCounts(long Hits, long Misses, long Total, double HitRate)
{
    internal static MlCacheCounts From(MlCacheStats stats) => new(stats.Hits, stats.Misses, stats.Total, stats.HitRate);
}

/// <summary>How many entries clearing the prefix removed (entries that had already expired are not counted).</summary>
public sealed record MlCacheCleared(long Removed);

/// <summary>The seed's cached_inference arguments: the input, and optionally an explicit key, a prefix and a time to live.</summary>
public sealed record MlCachedRequest(JsonElement? Input, string? CacheKey = null, string? CachePrefix = null, int? TtlSeconds = null);

/// <summary>The result, whether it came from the cache, and the key it is cached under.</summary>
public sealed record MlCachedResponse(JsonElement Result, bool Cached, string CacheKey);

/// <summary>
/// A lookup: the 'input' the key is made from (as POST /ml/cached makes it), or an explicit or already computed 'cache_key'
/// (which wins when both are given), and the prefix.
/// </summary>
public sealed record MlCacheLookupRequest(JsonElement? Input = null, string? CacheKey = null, string? CachePrefix = null);

/// <summary>
/// A hit (<c>cached</c> true, with the <c>result</c>), or a miss: then compute the result and store it with the
/// <c>claim</c>, or release the claim, within <c>lease_ms</c>. A miss with a null claim waited for another caller's result
/// for the whole lease: compute, and store without a claim.
/// </summary>
public sealed record MlCacheLookupResponse(bool Cached, JsonElement? Result, string CacheKey, string? Claim, long? LeaseMs);

/// <summary>A result to cache under the key and claim a lookup answered, with an optional time to live.</summary>
public sealed record MlCacheStoreRequest(string? CacheKey, JsonElement? Result, string? Claim = null, string? CachePrefix = null,
    int? TtlSeconds = null);

/// <summary>The result is cached; <c>claim_held</c> says whether the claim was still the caller's (and is now released).</summary>
public sealed record MlCacheStored(string CacheKey, bool ClaimHeld);

/// <summary>A claim to give up: the key and claim a lookup answered.</summary>
public sealed record MlCacheReleaseRequest(string? CacheKey, string? Claim, string? CachePrefix = null);

/// <summary><c>released</c> is false when the claim was no longer the caller's (its lease ended), which is left alone.</summary>
public sealed record MlCacheReleased(string CacheKey, bool Released);
