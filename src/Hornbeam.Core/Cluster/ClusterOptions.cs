namespace Hornbeam.Cluster;

/// <summary>Presence and RPC settings, bound from <c>Hornbeam:Cluster</c>; defaults live here.</summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Cluster";

    /// <summary>How often a node renews its presence.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long after its last heartbeat a node that stopped heartbeating counts as gone.</summary>
    public TimeSpan NodeExpiry { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a node reads its request stream without a doorbell, to catch any it missed.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>RPC timeout when the caller gives none, in milliseconds.</summary>
    public int DefaultRpcTimeoutMs { get; set; } = 5000;

    /// <summary>Longest RPC timeout a caller may ask for, in milliseconds.</summary>
    public int MaxRpcTimeoutMs { get; set; } = 60_000;

    /// <summary>
    /// Most requests a node's stream holds that the node has not finished (waiting or running). A call or cast sent to a
    /// full stream is refused with 503 overloaded; nothing accepted is ever trimmed.
    /// </summary>
    public int RequestStreamMaxLength { get; set; } = 10_000;

    /// <summary>Most requests from the stream this node runs at once; the rest wait in the stream, unread.</summary>
    public int MaxConcurrentRpcHandlers { get; set; } = 64;

    /// <summary>
    /// How long the requests left unserved in the stream of a stopped or dead node are kept for a node restarted with the
    /// same name; an empty stream is deleted at once.
    /// </summary>
    public TimeSpan OrphanedRequestRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Largest JSON of an RPC's arguments or result, in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    internal string? Validate()
    {
        if (HeartbeatInterval <= TimeSpan.Zero) return "Hornbeam:Cluster:HeartbeatInterval must be positive.";
        if (NodeExpiry <= HeartbeatInterval) return "Hornbeam:Cluster:NodeExpiry must be longer than Hornbeam:Cluster:HeartbeatInterval.";
        if (SweepInterval <= TimeSpan.Zero) return "Hornbeam:Cluster:SweepInterval must be positive.";
        if (MaxRpcTimeoutMs < 1) return "Hornbeam:Cluster:MaxRpcTimeoutMs must be at least 1.";
        if (DefaultRpcTimeoutMs < 1 || DefaultRpcTimeoutMs > MaxRpcTimeoutMs) return "Hornbeam:Cluster:DefaultRpcTimeoutMs must be between 1 and Hornbeam:Cluster:MaxRpcTimeoutMs.";
        if (RequestStreamMaxLength < 1) return "Hornbeam:Cluster:RequestStreamMaxLength must be at least 1.";
        if (MaxConcurrentRpcHandlers < 1) return "Hornbeam:Cluster:MaxConcurrentRpcHandlers must be at least 1.";
        if (OrphanedRequestRetention < TimeSpan.FromSeconds(1)) return "Hornbeam:Cluster:OrphanedRequestRetention must be at least one second.";
        if (MaxPayloadBytes < 1) return "Hornbeam:Cluster:MaxPayloadBytes must be at least 1.";
        return null;
    }

    /// <summary>Checks a caller's timeout against the ceiling; null means the default.</summary>
    public TimeSpan ResolveTimeout(int? timeoutMs)
    {
        var ms = timeoutMs ?? DefaultRpcTimeoutMs;
        if (ms < 1 || ms > MaxRpcTimeoutMs)
            throw new HornbeamException(HornbeamError.InvalidInput, $"timeout_ms must be between 1 and {MaxRpcTimeoutMs}; it was {ms}.");
        return TimeSpan.FromMilliseconds(ms);
    }
}
