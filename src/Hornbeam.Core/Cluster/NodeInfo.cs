using System.Text.Json.Serialization;

namespace Hornbeam.Cluster;

/// <summary>What a node tells the cluster about itself: enough for a caller to pick a target.</summary>
public sealed record NodeInfo(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("started_at")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("last_seen")] DateTimeOffset LastSeen,
    [property: JsonPropertyName("modules")] IReadOnlyDictionary<string, IReadOnlyList<string>> Modules,
    [property: JsonPropertyName("functions")] IReadOnlyList<string> Functions)
{
    /// <summary>When the node's presence lapses unless it heartbeats again.</summary>
    [JsonIgnore]
    public DateTimeOffset ExpiresAt { get; init; }
}
