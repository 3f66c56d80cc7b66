using Hornbeam.Redis;
using StackExchange.Redis;

namespace Hornbeam.State;

// Many keys in one call: a transaction (one script, all or nothing) and a bulk set (each key on its own).
internal sealed partial class StateStore
{
    public async Task<IReadOnlyList<StateOperationResult>> TransactAsync(IReadOnlyList<StateOperation> operations)
    {
        Count("transaction");
        if (operations.Count == 0)
            throw new HornbeamException(HornbeamError.InvalidInput, "operations is empty; give at least one operation.");
        if (operations.Count > _options.MaxMultiKeys)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"{operations.Count} operations given; at most {_options.MaxMultiKeys} (Hornbeam:MaxMultiKeys) are allowed in one " +
                "transaction.");
        var redisKeys = new RedisKey[operations.Count + 2];
        var values = new RedisValue[operations.Count * 5];
        var bucket = -1;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            try
            {
                ValidateKey(op.Key);
                var here = RedisKeys.StateBucket(op.Key);
                if (bucket < 0) bucket = here;
                else if (here != bucket)
                    throw new HornbeamException(HornbeamError.InvalidInput,
                        $"'{op.Key}' and '{operations[0].Key}' are not in one hash slot, and the keys of a transaction must be: " +
                        "give them one hash tag, e.g. '{cart:42}:items' and '{cart:42}:total'.");
                redisKeys[i + 2] = keys.StateValue(op.Key);
                values[i * 5] = op.Kind switch
                {
                    StateOperationKind.Set => "s",
                    StateOperationKind.Delete => "d",
                    StateOperationKind.Increment => "i",
                    _ => throw new HornbeamException(HornbeamError.InvalidInput, $"Unknown operation kind {op.Kind}."),
                };
                values[i * 5 + 1] = op.Key;
                values[i * 5 + 2] = op.Kind switch
                {
                    StateOperationKind.Set => NormalizeValue(op.Json.Span),
                    StateOperationKind.Increment => op.Delta,
                    _ => "",
                };
                values[i * 5 + 3] = op.IfMatch is null ? "" : StateETags.Parse(op.IfMatch, "if_match", weakMatches: false);
                if (op.Kind == StateOperationKind.Delete && op.TimeToLive is not null)
                    throw new HornbeamException(HornbeamError.InvalidInput, "A delete takes no lifetime.");
                values[i * 5 + 4] = TtlMilliseconds(op.TimeToLive);
            }
            catch (HornbeamException e)
            {
                throw new HornbeamException(e.Error, $"operations[{i}]: {e.Message}", e);
            }
        }
        redisKeys[0] = keys.StateIndexes[bucket];
        redisKeys[1] = keys.StateExpiries[bucket];

        RedisResult[] answer;
        try
        {
            answer = (RedisResult[])(await batcher.ScriptEvaluateAsync(RedisScripts.StateTransaction, redisKeys, values))!;
        }
        catch (RedisServerException e) when (e.Message.Contains("not an integer", StringComparison.OrdinalIgnoreCase))
        {
            // A delta the script hands INCRBY is always an integer; this is Redis refusing a value, reported as the conflict.
            throw new HornbeamException(HornbeamError.Conflict, $"A value is not a 64-bit integer; nothing was changed ({e.Message}).", e);
        }
        var status = (int)answer[0];
        if (status != 0)
        {
            var failed = (int)answer[1] - 1;
            var key = operations[failed].Key;
            throw status == 412
                ? new HornbeamException(HornbeamError.PreconditionFailed,
                    $"operations[{failed}]: '{key}' is absent or its ETag is not the if_match given; nothing was changed.")
                : NotCountable(new RedisServerException(RedisErrorKind.Unknown, CommandFlags.None, (string)answer[2]!), key,
                    operations[failed].Delta) is { } refused
                    ? new HornbeamException(refused.Error, $"operations[{failed}]: {refused.Message} Nothing else was changed either.")
                    : new HornbeamException(HornbeamError.Conflict, $"operations[{failed}]: {(string?)answer[2]}; nothing was changed.");
        }
        var results = new StateOperationResult[operations.Count];
        for (var i = 0; i < results.Length; i++)
        {
            var element = (RedisResult[])answer[i + 1]!;
            results[i] = operations[i].Kind switch
            {
                StateOperationKind.Set => new(operations[i].Key, StateETags.Quote((string)element[0]!), null),
                StateOperationKind.Increment => new(operations[i].Key, StateETags.Quote((string)element[0]!), (long)element[1]),
                _ => new(operations[i].Key, null, null),
            };
        }
        return results;
    }

    public async Task<IReadOnlyDictionary<string, StateBulkResult>> SetManyJsonAsync(
        IReadOnlyDictionary<string, ReadOnlyMemory<byte>> values, TimeSpan? timeToLive = null)
    {
        Count("bulk_set");
        if (values.Count > _options.MaxMultiKeys)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"{values.Count} keys given; at most {_options.MaxMultiKeys} (Hornbeam:MaxMultiKeys) are allowed in one request.");
        var ttl = TtlMilliseconds(timeToLive);
        var results = new Dictionary<string, StateBulkResult>(values.Count, StringComparer.Ordinal);
        var writes = new List<(string Key, Task<string> Write)>(values.Count);
        foreach (var (key, json) in values)
        {
            try
            {
                ValidateKey(key);
                // Started together, so the batcher sends them as one script call per hash slot.
                writes.Add((key, SetIfAsync(key, NormalizeValue(json.Span), ttl, "", "")));
            }
            catch (HornbeamException e)
            {
                results[key] = new StateBulkResult(null, e);
            }
        }
        // A Redis failure fails the whole call (some keys may be set: a set can simply be sent again).
        await Task.WhenAll(writes.Select(w => w.Write));
        foreach (var (key, write) in writes) results[key] = new StateBulkResult(write.Result, null);
        return results;
    }
}
