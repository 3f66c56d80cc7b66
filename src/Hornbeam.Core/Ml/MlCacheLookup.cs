namespace Hornbeam.Ml;

/// <summary>What <see cref="IMlCache.LookupAsync"/> answers: a hit, or a miss with or without a claim.</summary>
/// <param name="CacheKey">The key looked up.</param>
/// <param name="Json">On a hit, the cached result as UTF-8 JSON, exactly the bytes stored; null on a miss.</param>
/// <param name="Claim">On a miss, the token that makes the caller the one computing the result; null on a hit, and on a
/// miss whose wait for another caller's result ran out.</param>
/// <param name="Lease">How long a claim lasts (<c>Hornbeam:Ml:LockTimeoutMs</c>): a caller that neither stores nor
/// releases by then (it died) loses the claim to the next caller.</param>
public sealed record MlCacheLookup(string CacheKey, ReadOnlyMemory<byte>? Json, string? Claim, TimeSpan Lease)
{
    /// <summary>True when <see cref="Json"/> holds the cached result.</summary>
    public bool Cached => Json is not null;
}
