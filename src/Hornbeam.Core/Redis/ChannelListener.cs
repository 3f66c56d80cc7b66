using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>One listener's place on a channel of <see cref="RedisChannels"/>; dispose it to leave.</summary>
internal sealed class ChannelListener(RedisChannels owner, Action<RedisValue> onMessage) : IDisposable
{
    internal Action<RedisValue> OnMessage { get; } = onMessage;

    internal RedisChannels.Subscription? Subscription { get; set; }

    /// <inheritdoc />
    public void Dispose() => owner.Leave(this);
}
