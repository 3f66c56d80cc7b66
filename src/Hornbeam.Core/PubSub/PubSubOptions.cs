namespace Hornbeam.PubSub;

/// <summary>Pub/sub settings, bound from <c>Hornbeam:PubSub</c>; defaults live here.</summary>
public sealed class PubSubOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:PubSub";

    /// <summary>Most messages a topic's history keeps for replay after a reconnect.</summary>
    public int HistoryLength { get; set; } = 1000;

    /// <summary>
    /// How long a message stays in history; older ones are not replayed. A topic's keys (history, sequence) expire this long
    /// after its last publish, once no node counts subscribers for it; a later publish starts a new sequence from the time.
    /// </summary>
    public TimeSpan HistoryAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Messages one subscriber may have waiting; one more ends that subscription with an overflow event.</summary>
    public int BufferCapacity { get; set; } = 1000;

    /// <summary>Most subscriptions (SSE, WebSocket and C#) one node holds at once; beyond it a subscribe gets 503.</summary>
    public int MaxSubscriptions { get; set; } = 20_000;

    /// <summary>How often a node refreshes its subscriber counts in Redis.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a node's count entry stays in Redis without a refresh. A count counts only while cluster presence holds its node
    /// live (<c>Hornbeam:Cluster:NodeExpiry</c>), so this bounds the keys, not how long a dead node counts.
    /// </summary>
    public TimeSpan NodeExpiry { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Interval of the SSE comment heartbeat (<c>: ping</c>) and of WebSocket keep-alive pings.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The SSE <c>retry</c> a client waits before reconnecting.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(3);

    internal string? Validate()
    {
        if (HistoryLength < 1) return "Hornbeam:PubSub:HistoryLength must be at least 1.";
        if (HistoryAge < TimeSpan.FromMilliseconds(1)) return "Hornbeam:PubSub:HistoryAge must be positive.";
        if (BufferCapacity < 1) return "Hornbeam:PubSub:BufferCapacity must be at least 1.";
        if (MaxSubscriptions < 1) return "Hornbeam:PubSub:MaxSubscriptions must be at least 1.";
        if (HeartbeatInterval < TimeSpan.FromMilliseconds(10)) return "Hornbeam:PubSub:HeartbeatInterval must be at least 10 ms.";
        if (NodeExpiry <= HeartbeatInterval) return "Hornbeam:PubSub:NodeExpiry must be longer than HeartbeatInterval (three times is a good choice).";
        if (KeepAliveInterval < TimeSpan.FromMilliseconds(10)) return "Hornbeam:PubSub:KeepAliveInterval must be at least 10 ms.";
        if (RetryInterval < TimeSpan.Zero) return "Hornbeam:PubSub:RetryInterval must not be negative.";
        return null;
    }
}
