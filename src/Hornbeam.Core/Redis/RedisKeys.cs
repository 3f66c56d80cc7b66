using System.Text;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Every Redis key Hornbeam uses is built here, under the configured prefix.
/// Keys that one script touches together share a hash tag, so they live in one Redis Cluster slot.
/// </summary>
public sealed partial class RedisKeys(string prefix)
{
    /// <summary>State keys are spread over this many index buckets; each bucket is one hash slot.</summary>
    public const int StateBuckets = 16;

    /// <summary>The namespace prefix, e.g. <c>hornbeam:</c>.</summary>
    public string Prefix { get; } = prefix;

    private readonly string[] _stateValuePrefixes = Enumerable.Range(0, StateBuckets).Select(b => $"{prefix}{{state:{b:x}}}:v:").ToArray();
    private readonly RedisKey[] _stateIndexes =
        Enumerable.Range(0, StateBuckets).Select(b => (RedisKey)$"{prefix}{{state:{b:x}}}:index").ToArray();

    /// <summary>The Redis key holding the value of state key <paramref name="key"/>.</summary>
    public RedisKey StateValue(string key) => _stateValuePrefixes[StateBucket(key)] + key;

    /// <summary>The sorted set (all scores 0, ordered by bytes) that indexes the keys of <paramref name="key"/>'s bucket.</summary>
    public RedisKey StateIndexFor(string key) => _stateIndexes[StateBucket(key)];

    /// <summary>All bucket indexes, for listing keys.</summary>
    public IReadOnlyList<RedisKey> StateIndexes => _stateIndexes;

    /// <summary>
    /// FNV-1a over the key's UTF-8 bytes: stable across processes and languages. A key with a hash tag, as Redis Cluster
    /// reads one (the text between the first <c>{</c> and the next <c>}</c>, when not empty), is hashed by its tag alone,
    /// so keys that share a tag share a bucket and can change together in one transaction.
    /// </summary>
    public static int StateBucket(string key)
    {
        Span<byte> small = stackalloc byte[256];
        var max = Encoding.UTF8.GetMaxByteCount(key.Length);
        var bytes = max <= small.Length ? small : new byte[max];
        var hashed = bytes[..Encoding.UTF8.GetBytes(key, bytes)];
        if (hashed.IndexOf((byte)'{') is var open and >= 0 && hashed[(open + 1)..].IndexOf((byte)'}') is var length and > 0)
            hashed = hashed.Slice(open + 1, length);
        uint hash = 2166136261;
        foreach (var b in hashed) hash = (hash ^ b) * 16777619;
        return (int)(hash % StateBuckets);
    }
}
