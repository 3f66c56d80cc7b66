using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.PubSub;

/// <summary>Pub/sub settings, bound from <c>Hornbeam:PubSub</c>; defaults live here.</summary>
public sealed class PubSubOptions : IValidatableObject
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:PubSub";

    /// <summary>Most messages a topic's history keeps for replay after a reconnect.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:PubSub:HistoryLength must be at least 1.")]
    public int HistoryLength { get; set; } = 1000;

    /// <summary>
    /// How long a message stays in history; older ones are not replayed. A topic's keys (history, sequence) expire this long
    /// after its last publish, once no node counts subscribers for it; a later publish starts a new sequence from the time.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:PubSub:HistoryAge must be positive.")]
    public TimeSpan HistoryAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Messages one subscriber may have waiting; one more ends that subscription with an overflow event.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:PubSub:BufferCapacity must be at least 1.")]
    public int BufferCapacity { get; set; } = 1000;

    /// <summary>Most subscriptions (SSE, WebSocket and C#) one node holds at once; beyond it a subscribe gets 503.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:PubSub:MaxSubscriptions must be at least 1.")]
    public int MaxSubscriptions { get; set; } = 20_000;

    /// <summary>How often a node refreshes its subscriber counts in Redis.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.010", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:PubSub:HeartbeatInterval must be at least 10 ms.")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a node's count entry stays in Redis without a refresh. A count counts only while cluster presence holds its node
    /// live (<c>Hornbeam:Cluster:NodeExpiry</c>), so this bounds the keys, not how long a dead node counts.
    /// </summary>
    public TimeSpan NodeExpiry { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Interval of the SSE comment heartbeat (<c>: ping</c>) and of WebSocket keep-alive pings.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.010", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:PubSub:KeepAliveInterval must be at least 10 ms.")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The SSE <c>retry</c> a client waits before reconnecting.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:PubSub:RetryInterval must not be negative.")]
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(3);

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (NodeExpiry <= HeartbeatInterval)
            yield return new ValidationResult(
                "Hornbeam:PubSub:NodeExpiry must be longer than HeartbeatInterval (three times is a good choice).", [nameof(NodeExpiry)]);
    }
}

/// <summary>
/// Checks <see cref="PubSubOptions"/> at start-up;
/// the body is source-generated from the attributes and calls the cross-field rule.
/// </summary>
[OptionsValidator]
internal sealed partial class PubSubOptionsValidator : IValidateOptions<PubSubOptions>;
