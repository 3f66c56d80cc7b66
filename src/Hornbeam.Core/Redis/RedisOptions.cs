namespace Hornbeam.Redis;

/// <summary>How Hornbeam talks to Redis, bound from <c>Hornbeam:Redis</c>; defaults live here.</summary>
public sealed class RedisOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Redis";

    /// <summary>
    /// Replicas that must hold a write before it is acknowledged (Redis <c>WAIT</c>); 0 acknowledges once the master
    /// applied it. With N &gt; 0 a write that fewer replicas confirm answers outcome-unknown instead of success.
    /// </summary>
    public int WaitReplicas { get; set; }

    /// <summary>Longest a request waits for Redis, in milliseconds; past it the request fails with a 503.</summary>
    public int DeadlineMs { get; set; } = 2000;

    internal string? Validate()
    {
        if (WaitReplicas < 0) return "Hornbeam:Redis:WaitReplicas must be 0 or more.";
        if (DeadlineMs < 100) return "Hornbeam:Redis:DeadlineMs must be at least 100.";
        return null;
    }
}
