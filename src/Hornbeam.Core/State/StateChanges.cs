using System.Text;
using Hornbeam.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.State;

/// <summary>The Redis implementation of <see cref="IStateChanges"/>: per bucket a stream written by the state write scripts.</summary>
internal sealed class StateChanges(IConnectionMultiplexer redis, RedisKeys keys, RedisChannels channels,
    IOptions<StateChangesOptions> options, IOptions<HornbeamOptions> hornbeam) : IStateChanges
{
    public async Task<StateChangeFeed> WatchAsync(string prefix, string? after = null, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(prefix))
            throw new HornbeamException(HornbeamError.InvalidInput,
                "prefix is empty; give the prefix of the keys to watch, e.g. prefix=user: (watching every key is not offered).");
        var bytes = Encoding.UTF8.GetByteCount(prefix);
        if (bytes > hornbeam.Value.MaxKeyBytes)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"prefix is {bytes} bytes long; at most {hornbeam.Value.MaxKeyBytes} UTF-8 bytes are allowed, as for a key.");
        StateChangePosition? from = null;
        if (after is not null)
            from = StateChangePosition.TryParse(after) ?? throw new HornbeamException(HornbeamError.InvalidInput,
                "Last-Event-ID is not an id of this change feed; send back the id of the last event received, unchanged.");
        var feed = new StateChangeFeed(redis, keys, options.Value, prefix);
        try
        {
            await feed.StartAsync(channels, from, cancellationToken);
        }
        catch (Exception e)
        {
            await feed.DisposeAsync();
            if (e is RedisServerException && e.Message.Contains("unknown", StringComparison.OrdinalIgnoreCase)
                && e.Message.Contains("command", StringComparison.OrdinalIgnoreCase))
                throw new HornbeamException(HornbeamError.Unavailable,
                    "This Redis store has no stream commands (the embedded Garnet store of Development has none), so it cannot " +
                    "keep a change feed; point ConnectionStrings:Redis at Redis.", e);
            throw;
        }
        return feed;
    }
}
