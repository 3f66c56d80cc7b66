namespace Hornbeam.State;

/// <summary>A lifetime and conditions for one set, as <c>PUT /state/{key}</c> takes them.</summary>
public sealed record StateSetOptions
{
    /// <summary>
    /// How long the key lives (at least 1 ms; whole milliseconds); null for no lifetime, which also ends any lifetime the key
    /// had, as Redis's SET does.
    /// </summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>
    /// Set only if the stored value's ETag is one of these (<c>If-Match</c>: one or more quoted ETags, or <c>*</c> for any
    /// stored value); otherwise nothing changes and <see cref="HornbeamError.PreconditionFailed"/> is thrown.
    /// </summary>
    public string? IfMatch { get; init; }

    /// <summary>
    /// Set only if the stored value's ETag is none of these (<c>If-None-Match</c>): <c>*</c> sets only when the key is
    /// absent (create only); otherwise <see cref="HornbeamError.PreconditionFailed"/> is thrown and nothing changes.
    /// </summary>
    public string? IfNoneMatch { get; init; }
}
