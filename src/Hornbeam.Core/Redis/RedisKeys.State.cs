using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    private RedisKey[]? _stateExpiries;

    /// <summary>
    /// Per bucket, the keys that were given a lifetime, scored by when it ends (ms since the epoch): expired keys are
    /// found there and taken out of the bucket's index, so the index does not keep them.
    /// </summary>
    public IReadOnlyList<RedisKey> StateExpiries =>
        _stateExpiries ??= Enumerable.Range(0, StateBuckets).Select(b => (RedisKey)$"{Prefix}{{state:{b:x}}}:expiry").ToArray();

    /// <summary>The expiry set of <paramref name="key"/>'s bucket.</summary>
    public RedisKey StateExpiryFor(string key) => StateExpiries[StateBucket(key)];

    /// <summary>What precedes a state key in the names of the value keys of <paramref name="bucket"/>.</summary>
    public string StateValuePrefix(int bucket) => _stateValuePrefixes[bucket];
}
