using Hornbeam.Cluster;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Hornbeam.Api.Cluster;

/// <summary>A replica whose presence has lapsed is invisible to RPC callers, so it should not take traffic either.</summary>
internal sealed class PresenceReadiness(IClusterPresence presence) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(presence.IsPresenceCurrent
            ? HealthCheckResult.Healthy($"current (last heartbeat {presence.LastHeartbeat:O})")
            : new HealthCheckResult(context.Registration.FailureStatus,
                presence.LastHeartbeat is { } last ? $"expired (last heartbeat {last:O})" : "no heartbeat yet"));
}
