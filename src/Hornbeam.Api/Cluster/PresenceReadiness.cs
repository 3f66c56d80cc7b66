using Hornbeam.Api.Health;
using Hornbeam.Cluster;

namespace Hornbeam.Api.Cluster;

/// <summary>A replica whose presence has lapsed is invisible to RPC callers, so it should not take traffic either.</summary>
internal sealed class PresenceReadiness(ClusterPresence presence) : IReadinessCheck
{
    public string Name => "presence";

    public Task<(bool Ready, string Detail)> CheckAsync() => Task.FromResult(presence.IsPresenceCurrent
        ? (true, $"current (last heartbeat {presence.LastHeartbeat:O})")
        : (false, presence.LastHeartbeat is { } last ? $"expired (last heartbeat {last:O})" : "no heartbeat yet"));
}
