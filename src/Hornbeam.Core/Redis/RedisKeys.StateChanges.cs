using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    /// <summary>
    /// The stream of changes recorded in state bucket <paramref name="bucket"/>. The write scripts name it (and the watch
    /// keys) from the bucket's index key, so all three stay in the bucket's hash slot: see <c>RedisScripts.StateChange</c>.
    /// </summary>
    public RedisKey StateChanges(int bucket) => $"{Prefix}{{state:{bucket:x}}}:changes";

    /// <summary>Hash of the prefixes watched in <paramref name="bucket"/>, each mapped to the most entries its stream keeps.</summary>
    public RedisKey StateWatch(int bucket) => $"{Prefix}{{state:{bucket:x}}}:watch";

    /// <summary>Sorted set of the prefixes watched in <paramref name="bucket"/>, scored by when their lease ends (ms).</summary>
    public RedisKey StateWatchers(int bucket) => $"{Prefix}{{state:{bucket:x}}}:watchers";

    /// <summary>The channel a write script wakes change readers on; each message is the bucket's number in hex.</summary>
    public RedisChannel StateChangesChannel => RedisChannel.Literal($"{Prefix}state:changes");
}
