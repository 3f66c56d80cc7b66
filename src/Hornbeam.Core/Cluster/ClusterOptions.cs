using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Cluster;

/// <summary>Presence and RPC settings, bound from <c>Hornbeam:Cluster</c>; defaults live here.</summary>
public sealed class ClusterOptions : IValidatableObject
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Cluster";

    /// <summary>How often a node renews its presence.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", SettingRangeAttribute.MaxTimeSpan, MinimumIsExclusive = true,
        ErrorMessage = "Hornbeam:Cluster:HeartbeatInterval must be positive.")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long after its last heartbeat a node that stopped heartbeating counts as gone.</summary>
    public TimeSpan NodeExpiry { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a node reads its request stream without a doorbell, to catch any it missed.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", SettingRangeAttribute.MaxTimeSpan, MinimumIsExclusive = true,
        ErrorMessage = "Hornbeam:Cluster:SweepInterval must be positive.")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>RPC timeout when the caller gives none, in milliseconds.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = DefaultRpcTimeoutMessage)]
    public int DefaultRpcTimeoutMs { get; set; } = 5000;

    /// <summary>Longest RPC timeout a caller may ask for, in milliseconds.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Cluster:MaxRpcTimeoutMs must be at least 1.")]
    public int MaxRpcTimeoutMs { get; set; } = 60_000;

    /// <summary>
    /// Most requests a node's stream holds that the node has not finished (waiting or running). A call or cast sent to a
    /// full stream is refused with 503 overloaded; nothing accepted is ever trimmed.
    /// </summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Cluster:RequestStreamMaxLength must be at least 1.")]
    public int RequestStreamMaxLength { get; set; } = 10_000;

    /// <summary>Most requests from the stream this node runs at once; the rest wait in the stream, unread.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Cluster:MaxConcurrentRpcHandlers must be at least 1.")]
    public int MaxConcurrentRpcHandlers { get; set; } = 64;

    /// <summary>
    /// How long the requests left unserved in the stream of a stopped or dead node are kept for a node restarted with the
    /// same name; an empty stream is deleted at once.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", SettingRangeAttribute.MaxTimeSpan,
        ErrorMessage = "Hornbeam:Cluster:OrphanedRequestRetention must be at least one second.")]
    public TimeSpan OrphanedRequestRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Largest JSON of an RPC's arguments or result, in bytes.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Cluster:MaxPayloadBytes must be at least 1.")]
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (NodeExpiry <= HeartbeatInterval)
            yield return new ValidationResult("Hornbeam:Cluster:NodeExpiry must be longer than Hornbeam:Cluster:HeartbeatInterval.",
                [nameof(NodeExpiry)]);
        if (DefaultRpcTimeoutMs > MaxRpcTimeoutMs)
            yield return new ValidationResult(DefaultRpcTimeoutMessage, [nameof(DefaultRpcTimeoutMs)]);
    }

    private const string DefaultRpcTimeoutMessage =
        "Hornbeam:Cluster:DefaultRpcTimeoutMs must be between 1 and Hornbeam:Cluster:MaxRpcTimeoutMs.";

    /// <summary>Checks a caller's timeout against the ceiling; null means the default.</summary>
    public TimeSpan ResolveTimeout(int? timeoutMs)
    {
        var ms = timeoutMs ?? DefaultRpcTimeoutMs;
        if (ms < 1 || ms > MaxRpcTimeoutMs)
            throw new HornbeamException(HornbeamError.InvalidInput, $"timeout_ms must be between 1 and {MaxRpcTimeoutMs}; it was {ms}.");
        return TimeSpan.FromMilliseconds(ms);
    }
}

/// <summary>
/// Checks <see cref="ClusterOptions"/> at start-up;
/// the body is source-generated from the attributes and calls the cross-field rules.
/// </summary>
[OptionsValidator]
internal sealed partial class ClusterOptionsValidator : IValidateOptions<ClusterOptions>;
