namespace Hornbeam.Tasks;

/// <summary>Settings of async hook tasks, bound from <c>Hornbeam:Tasks</c>.</summary>
public sealed class TaskOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Hornbeam:Tasks";

    /// <summary>How long a finished task's result stays readable, in seconds.</summary>
    public int RetentionSeconds { get; set; } = 3600;

    /// <summary>
    /// How long a running task survives its node going silent, in milliseconds. The node renews the lease every third of
    /// it; when it lapses, the next waiter marks the task failed.
    /// </summary>
    public int LeaseMilliseconds { get; set; } = 10_000;

    /// <summary>Longest <c>timeout_ms</c> one wait may ask for.</summary>
    public int MaxWaitMilliseconds { get; set; } = 300_000;

    internal string? Validate()
    {
        if (RetentionSeconds < 1) return "Hornbeam:Tasks:RetentionSeconds must be at least 1.";
        if (LeaseMilliseconds < 300) return "Hornbeam:Tasks:LeaseMilliseconds must be at least 300.";
        if (MaxWaitMilliseconds < 0) return "Hornbeam:Tasks:MaxWaitMilliseconds must not be negative.";
        return null;
    }
}
