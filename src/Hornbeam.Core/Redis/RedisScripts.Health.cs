namespace Hornbeam.Redis;

/// <summary>Readiness probe scripts: KEYS[1] is this node's probe key for one slot range.</summary>
internal static partial class RedisScripts
{
    // A write and a read of the same key in one round trip: an answer proves the master owning the slot accepts writes now.
    // ARGV: a value unique to this probe, its time to live in ms. Answers the value read back.
    public const string HealthProbe = "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return redis.call('GET', KEYS[1])";

    // The cluster's slot map as the answering node sees it now; a script because the client refuses CLUSTER outside admin mode.
    public const string HealthClusterSlots = "return redis.call('CLUSTER', 'SLOTS')";
}
