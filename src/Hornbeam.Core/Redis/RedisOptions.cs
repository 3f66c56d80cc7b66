using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

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
    [SettingRange(0, int.MaxValue, ErrorMessage = "Hornbeam:Redis:WaitReplicas must be 0 or more.")]
    public int WaitReplicas { get; set; }

    /// <summary>Longest a request waits for Redis, in milliseconds; past it the request fails with a 503.</summary>
    [SettingRange(100, int.MaxValue, ErrorMessage = "Hornbeam:Redis:DeadlineMs must be at least 100.")]
    public int DeadlineMs { get; set; } = 2000;

    /// <summary>
    /// How often a subscription a node needs all the time is tried again while Redis refuses it, and how long a probe on
    /// one of the node's own channels may take to come back before the subscription is made afresh.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.100", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:Redis:SubscriptionCheckInterval must be at least 100 ms.")]
    public TimeSpan SubscriptionCheckInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Checks <see cref="RedisOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class RedisOptionsValidator : IValidateOptions<RedisOptions>;
