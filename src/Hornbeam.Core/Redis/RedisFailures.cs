using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Reads a failure of the Redis client as the answer a caller can act on: whether the change was certainly not applied
/// (<see cref="HornbeamError.Unavailable"/>: retry) or may have been (<see cref="HornbeamError.OutcomeUnknown"/>: retry
/// only with the same Idempotency-Key). Every wire answers Redis failures through this one reading.
/// </summary>
public static class RedisFailures
{
    /// <summary>
    /// The Hornbeam failure for <paramref name="e"/>, or null when it is no Redis availability failure. A call that
    /// does not <paramref name="changesData"/> (a read) can only have been not applied.
    /// </summary>
    public static HornbeamException? Classify(Exception e, bool changesData)
    {
        if (e is HornbeamException { Error: HornbeamError.OutcomeUnknown } unknown)
            return changesData ? unknown : NotApplied("replicas did not confirm in time", e);
        var notApplied = e switch
        {
            RedisConnectionException c => (bool?)NeverSent(c.CommandStatus),
            RedisTimeoutException t => NeverSent(t.Commandstatus),
            RedisServerException s when RefusedBeforeRunning(s) => true,
            _ => null,
        };
        if (notApplied is null) return null;
        var reason = e is RedisServerException server
            ? server.Message.Split(' ')[0] + " from Redis"
            : e is RedisTimeoutException ? "no answer within the deadline" : "connection lost";
        return notApplied.Value || !changesData ? NotApplied(reason, e) : new HornbeamException(HornbeamError.OutcomeUnknown,
            $"Redis did not confirm the change ({reason}); it may or may not have been applied. Retry only with the same " +
            "Idempotency-Key, which applies it at most once (PUT and DELETE can simply be retried).", e);
    }

    private static HornbeamException NotApplied(string reason, Exception e) => new(HornbeamError.Unavailable,
        $"Redis cannot serve this right now ({reason}); nothing was changed. Retry shortly: Hornbeam reconnects by itself.", e);

    // The client never handed the command to a socket, so Redis cannot have seen it.
    private static bool NeverSent(CommandStatus status) => status is CommandStatus.WaitingToBeSent or CommandStatus.WaitingInBacklog;

    // Errors Redis can only raise before running a command (its own state: loading, failing over, refusing writes), so a
    // script that reports one wrote nothing. Any other error from a script may follow writes it already made.
    private static bool RefusedBeforeRunning(RedisServerException e) => e.Kind switch
    {
        RedisErrorKind.Loading or RedisErrorKind.ClusterDown or RedisErrorKind.MasterDown or RedisErrorKind.TryAgain
            or RedisErrorKind.ReadOnly or RedisErrorKind.NoReplicas or RedisErrorKind.Misconfigured or RedisErrorKind.Busy
            or RedisErrorKind.MaxClients or RedisErrorKind.OutOfMemory => true,
        // A write sent not to be redirected (a confirmed write on a cluster) to a server that does not serve its slot.
        RedisErrorKind.Moved or RedisErrorKind.Ask => true,
        // A combined script reports one call's error as text, which carries Redis's error code first.
        _ => e.Message.StartsWith("LOADING", StringComparison.Ordinal) || e.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal)
            || e.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal) || e.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
            || e.Message.StartsWith("READONLY", StringComparison.Ordinal) || e.Message.StartsWith("NOREPLICAS", StringComparison.Ordinal)
            || e.Message.StartsWith("MISCONF", StringComparison.Ordinal) || e.Message.StartsWith("OOM", StringComparison.Ordinal),
    };
}
