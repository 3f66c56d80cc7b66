using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Tasks;

/// <summary>Settings of async hook tasks, bound from <c>Hornbeam:Tasks</c>.</summary>
public sealed class TaskOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Hornbeam:Tasks";

    /// <summary>How long a finished task's result stays readable, in seconds.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Tasks:RetentionSeconds must be at least 1.")]
    public int RetentionSeconds { get; set; } = 3600;

    /// <summary>
    /// How long a running task survives its node going silent, in milliseconds. The node renews the lease every third of
    /// it; when it lapses, the next waiter marks the task failed (outcome unknown).
    /// </summary>
    [SettingRange(300, int.MaxValue, ErrorMessage = "Hornbeam:Tasks:LeaseMilliseconds must be at least 300.")]
    public int LeaseMilliseconds { get; set; } = 10_000;

    /// <summary>Longest <c>timeout_ms</c> one wait may ask for.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Hornbeam:Tasks:MaxWaitMilliseconds must not be negative.")]
    public int MaxWaitMilliseconds { get; set; } = 300_000;

    /// <summary>
    /// Most tasks one node runs at once, counting those still recording their result. A start beyond it is refused
    /// with 503 overloaded and a <c>Retry-After</c>, and nothing is stored for it.
    /// </summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Tasks:MaxRunningPerNode must be at least 1.")]
    public int MaxRunningPerNode { get; set; } = 256;

    /// <summary>
    /// How long a node keeps retrying to record a finished task's result (or error) while Redis cannot take it, in
    /// seconds; the backoff between attempts doubles up to a second.
    /// </summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Hornbeam:Tasks:FinishRetrySeconds must not be negative.")]
    public int FinishRetrySeconds { get; set; } = 30;
}

/// <summary>Checks <see cref="TaskOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class TaskOptionsValidator : IValidateOptions<TaskOptions>;
