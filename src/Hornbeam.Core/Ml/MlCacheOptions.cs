using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Ml;

/// <summary>Settings of the inference cache, bound from <c>Hornbeam:Ml</c>; defaults live here.</summary>
public sealed class MlCacheOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Ml";

    /// <summary>Lifetime of an entry when the call gives none; null keeps entries until they are cleared.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Ml:DefaultTtlSeconds must be at least 1, or unset to keep entries.")]
    public int? DefaultTtlSeconds { get; set; }

    /// <summary>
    /// How long a concurrent miss waits for the caller computing the same key before computing itself; also the lifetime
    /// of that caller's claim (also of a claim a REST lookup hands a client), so a crashed replica or client holds no key
    /// for longer.
    /// </summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Ml:LockTimeoutMs must be at least 1.")]
    public int LockTimeoutMs { get; set; } = 30_000;

    /// <summary>How many entries one step of clearing a prefix deletes; each step is one short script.</summary>
    [SettingRange(1, 10_000, ErrorMessage = "Hornbeam:Ml:ClearBatchSize must be between 1 and 10000.")]
    public int ClearBatchSize { get; set; } = 500;
}

/// <summary>Checks <see cref="MlCacheOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class MlCacheOptionsValidator : IValidateOptions<MlCacheOptions>;
