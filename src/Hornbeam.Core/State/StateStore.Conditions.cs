using Hornbeam.Idempotency;
using Hornbeam.Redis;
using StackExchange.Redis;

namespace Hornbeam.State;

// Lifetimes and ETag conditions: scripts of their own (RedisScripts.State.cs), so a plain set, delete or increment runs
// exactly as before.
internal sealed partial class StateStore
{
    /// <summary>Most expired keys one script call takes out of a bucket's index.</summary>
    internal const int SweepBatch = 500;

    public async Task<StateItem?> GetItemAsync(string key)
    {
        Count("get");
        ValidateKey(key);
        var redisKey = keys.StateValue(key);
        // Queued together, so both go to Redis in the same write.
        var value = batcher.StringGetAsync(redisKey);
        var ttl = batcher.KeyTimeToLiveAsync(redisKey);
        var json = (byte[]?)await value;
        var lifetime = await ttl;
        return json is null ? null : new StateItem(json, StateETags.Of(json), lifetime);
    }

    public Task<string> SetJsonAsync(string key, ReadOnlyMemory<byte> json, StateSetOptions options)
    {
        ValidateKey(key);
        var ttl = TtlMilliseconds(options.TimeToLive);
        var (condition, tags) = (options.IfMatch, options.IfNoneMatch) switch
        {
            ({ }, { }) => throw new HornbeamException(HornbeamError.InvalidInput, "Give If-Match or If-None-Match, not both."),
            ({ } match, null) => ("m", StateETags.Parse(match, "If-Match", weakMatches: false)),
            (null, { } noneMatch) => ("n", StateETags.Parse(noneMatch, "If-None-Match", weakMatches: true)),
            _ => ("", ""),
        };
        return SetIfAsync(key, NormalizeValue(json.Span), ttl, condition, tags);
    }

    private async Task<string> SetIfAsync(string key, byte[] json, long ttl, string condition, string tags)
    {
        Count("set");
        var etag = StateETags.Of(json);
        if (ttl == 0 && condition == "")
        {
            await SetNormalizedAsync(key, json);
            return etag;
        }
        var written = (int)await batcher.ScriptEvaluateAsync(RedisScripts.StateSetIf,
            [keys.StateValue(key), keys.StateIndexFor(key), keys.StateExpiryFor(key)], [json, ttl, condition, tags, key]);
        if (written == 0)
            throw new HornbeamException(HornbeamError.PreconditionFailed, condition == "m"
                ? $"'{key}' is absent or its ETag is not one that If-Match names; nothing was changed. Read it again and retry."
                : $"'{key}' exists (If-None-Match: *) or its ETag is one that If-None-Match names; nothing was changed.");
        return etag;
    }

    public async Task DeleteAsync(string key, string ifMatch)
    {
        Count("delete");
        ValidateKey(key);
        var tags = StateETags.Parse(ifMatch, "If-Match", weakMatches: false);
        var deleted = (int)await batcher.ScriptEvaluateAsync(RedisScripts.StateDeleteIf,
            [keys.StateValue(key), keys.StateIndexFor(key), keys.StateExpiryFor(key)], [key, tags]);
        if (deleted == 0)
            throw new HornbeamException(HornbeamError.PreconditionFailed,
                $"'{key}' is absent or its ETag is not one that If-Match names; nothing was deleted.");
    }

    public async Task<long> IncrementAsync(string key, long delta, TimeSpan timeToLive)
    {
        Count("incr");
        ValidateKey(key);
        var ttl = TtlMilliseconds(timeToLive);
        try
        {
            return (long)await batcher.ScriptEvaluateAsync(RedisScripts.StateIncrementExpiring,
                [keys.StateValue(key), keys.StateIndexFor(key), keys.StateExpiryFor(key)], [delta, ttl, key]);
        }
        catch (RedisServerException e) when (NotCountable(e, key, delta) is { } refused)
        {
            throw refused;
        }
    }

    public async Task<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, IdempotentRequest once)
    {
        Count("incr");
        ValidateKey(key);
        var ttl = TtlMilliseconds(timeToLive);
        RedisResult[] answer;
        try
        {
            answer = (RedisResult[])(await batcher.ScriptEvaluateAsync(RedisScripts.StateIncrementOnceExpiring,
                [keys.StateValue(key), keys.StateIndexFor(key), keys.StateIdempotencyRecord(key, once), keys.StateExpiryFor(key)],
                [delta, key, once.Fingerprint, idempotency.Value.WindowSeconds * 1000L, ttl]))!;
        }
        catch (RedisServerException e) when (NotCountable(e, key, delta) is { } refused)
        {
            throw refused;
        }
        if ((int)answer[0] == 2) throw IdempotencyStore.Reused();
        return (long)answer[1];
    }

    /// <summary>A lifetime in whole milliseconds (rounded up), 0 for none.</summary>
    internal static long TtlMilliseconds(TimeSpan? timeToLive)
    {
        if (timeToLive is not { } ttl) return 0;
        if (ttl <= TimeSpan.Zero || ttl > MaxTimeToLive)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"A lifetime must be positive and at most {(long)MaxTimeToLive.TotalSeconds} seconds; it was {ttl.TotalSeconds} seconds.");
        return (long)Math.Ceiling(ttl.TotalMilliseconds);
    }

    /// <summary>The longest lifetime: <c>ttl_seconds</c> is a 32-bit integer on the wire.</summary>
    internal static readonly TimeSpan MaxTimeToLive = TimeSpan.FromSeconds(int.MaxValue);
}
