using Hornbeam.Idempotency;
using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    /// <summary>The record of a request whose effect lies outside Redis (a hook or function call, a cast).</summary>
    public RedisKey IdempotencyRecord(IdempotentRequest request) => $"{Prefix}once:{request.RecordId}";

    /// <summary>
    /// The record of an increment of state key <paramref name="key"/>: in the hash slot of the key's bucket, so the
    /// increment and its record change in one script on Redis Cluster too.
    /// </summary>
    public RedisKey StateIdempotencyRecord(string key, IdempotentRequest request) =>
        $"{Prefix}{{state:{StateBucket(key):x}}}:once:{request.RecordId}";

    /// <summary>The record of a publish to <paramref name="topic"/>, in the topic's hash slot so the publish script writes it.</summary>
    public RedisKey PubSubIdempotencyRecord(string topic, IdempotentRequest request) =>
        $"{Prefix}{{pubsub:{topic}}}:once:{request.RecordId}";
}
