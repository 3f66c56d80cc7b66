using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    /// <summary>
    /// The short-lived key <paramref name="node"/>'s readiness probe writes and reads back. <paramref name="slotTag"/> picks
    /// the hash slot, so on Redis Cluster one probe key lands in each master's slot range; on a single Redis it is "0".
    /// </summary>
    public RedisKey HealthProbe(string node, string slotTag) => $"{Prefix}{{health:{slotTag}}}:{node}";
}
