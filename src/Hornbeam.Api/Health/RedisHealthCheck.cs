using Hornbeam.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Hornbeam.Api.Health;

/// <summary>Ready only while this replica can write and read Redis now, on every master that owns slots.</summary>
internal sealed class RedisHealthCheck(RedisProbe probe) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var result = await probe.ProbeAsync(cancellationToken);
        return result.Ok
            ? HealthCheckResult.Healthy(result.Detail)
            : new HealthCheckResult(context.Registration.FailureStatus, result.Detail);
    }
}
