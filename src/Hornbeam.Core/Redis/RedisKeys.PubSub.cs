using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    /// <summary>
    /// The keys of one pub/sub topic. They share the hash tag <c>{pubsub:topic}</c>, so the publish script can touch them
    /// together on Redis Cluster.
    /// </summary>
    public PubSubTopicKeys PubSubTopic(string topic)
    {
        var tag = $"{Prefix}{{pubsub:{topic}}}";
        return new PubSubTopicKeys(tag + ":seq", tag + ":history", tag + ":nodes", tag + ":alive");
    }

    /// <summary>The Redis pub/sub channel a topic's messages travel on between nodes.</summary>
    public string PubSubChannel(string topic) => $"{Prefix}pubsub:{topic}";

    /// <summary>Sorted set of topics that have subscribers, scored by when that stops being true unless a node refreshes it (ms).</summary>
    public RedisKey PubSubTopics => Prefix + "pubsub:topics";
}

/// <summary>
/// A topic's keys: <paramref name="Sequence"/> the last event id (INCR), <paramref name="History"/> recent messages scored by id,
/// <paramref name="Nodes"/> a hash node -> local subscriber count, <paramref name="Alive"/> node -> expiry (ms) of that count.
/// </summary>
public readonly record struct PubSubTopicKeys(RedisKey Sequence, RedisKey History, RedisKey Nodes, RedisKey Alive);
