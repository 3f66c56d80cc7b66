using StackExchange.Redis;

namespace Hornbeam.Redis;

// Access: each budget is one key with a hash tag of its own, so on a Redis Cluster budgets spread over the slots and
// one budget's script touches one slot.
public sealed partial class RedisKeys
{
    /// <summary>
    /// The request budget (GCRA's theoretical arrival time, µs) of <paramref name="bucket"/>: an API key's name or a
    /// client address.
    /// </summary>
    public RedisKey RateBudget(string bucket) => $"{Prefix}{{rate:{bucket}}}";

    /// <summary>The count of failed key attempts from client address <paramref name="address"/> in the current window.</summary>
    public RedisKey AuthFailures(string address) => $"{Prefix}{{authfail:{address}}}";
}
