using Microsoft.Extensions.Options;

namespace Hornbeam.State;

/// <summary>Change feed settings, bound from <c>Hornbeam:StateChanges</c>; defaults live here.</summary>
public sealed class StateChangesOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:StateChanges";

    /// <summary>How long changes stay resumable with <c>Last-Event-ID</c>; older ones are trimmed.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:StateChanges:Retention must be at least 1 s.")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most changes each of the 16 state buckets keeps (about: Redis trims whole blocks of a stream).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:StateChanges:MaxLength must be at least 1.")]
    public int MaxLength { get; set; } = 10_000;

    /// <summary>
    /// How long a watched prefix stays recorded after its last reader's last renewal (renewed every third of it): a reader
    /// that comes back within it resumes exactly; after it, writes are no longer recorded and a resume answers a gap.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.300", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:StateChanges:Lease must be at least 300 ms.")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Checks <see cref="StateChangesOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class StateChangesOptionsValidator : IValidateOptions<StateChangesOptions>;
