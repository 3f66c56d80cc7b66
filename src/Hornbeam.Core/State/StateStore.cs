using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hornbeam.Idempotency;
using Hornbeam.Redis;
using Hornbeam.Telemetry;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.State;

/// <summary>The Redis implementation of <see cref="IStateStore"/>: one value key and one bucket-index entry per state key.</summary>
internal sealed partial class StateStore(IConnectionMultiplexer redis, RedisBatcher batcher, RedisKeys keys,
    IOptions<HornbeamOptions> options,
    IOptions<IdempotencyOptions> idempotency) : IStateStore
{
    private static readonly JsonWriterOptions CompactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly HornbeamOptions _options = options.Value;

    private IDatabase Db => redis.GetDatabase();

    public async Task<byte[]?> GetJsonAsync(string key)
    {
        Count("get");
        ValidateKey(key);
        return (byte[]?)await batcher.StringGetAsync(keys.StateValue(key));
    }

    public async Task<T?> GetAsync<T>(string key, JsonSerializerOptions? json = null)
    {
        var raw = await GetJsonAsync(key);
        return raw is null ? default : JsonSerializer.Deserialize<T>(raw, json);
    }

    public Task SetJsonAsync(string key, ReadOnlyMemory<byte> json)
    {
        ValidateKey(key);
        return SetNormalizedAsync(key, NormalizeValue(json.Span));
    }

    public Task SetAsync<T>(string key, T value, JsonSerializerOptions? json = null)
    {
        ValidateKey(key);
        return SetNormalizedAsync(key, NormalizeValue(JsonSerializer.SerializeToUtf8Bytes(value, json)));
    }

    private Task SetNormalizedAsync(string key, byte[] json)
    {
        Count("set");
        return batcher.ScriptEvaluateAsync(RedisScripts.StateSet, [keys.StateValue(key), keys.StateIndexFor(key)], [json, key]);
    }

    private static void Count(string op) => HornbeamMetrics.CountStateOperation(op);

    public Task DeleteAsync(string key)
    {
        Count("delete");
        ValidateKey(key);
        return batcher.ScriptEvaluateAsync(RedisScripts.StateDelete, [keys.StateValue(key), keys.StateIndexFor(key)], [key]);
    }

    public async Task<long> IncrementAsync(string key, long delta = 1)
    {
        Count("incr");
        ValidateKey(key);
        try
        {
            return (long)await batcher.ScriptEvaluateAsync(RedisScripts.StateIncrement, [keys.StateValue(key), keys.StateIndexFor(key)],
                [delta, key]);
        }
        catch (RedisServerException e) when (NotCountable(e, key, delta) is { } refused)
        {
            throw refused;
        }
    }

    public async Task<long> IncrementAsync(string key, long delta, IdempotentRequest once)
    {
        Count("incr");
        ValidateKey(key);
        RedisResult[] answer;
        try
        {
            answer = (RedisResult[])(await batcher.ScriptEvaluateAsync(RedisScripts.StateIncrementOnce,
                [keys.StateValue(key), keys.StateIndexFor(key), keys.StateIdempotencyRecord(key, once)],
                [delta, key, once.Fingerprint, idempotency.Value.WindowSeconds * 1000L]))!;
        }
        catch (RedisServerException e) when (NotCountable(e, key, delta) is { } refused)
        {
            throw refused;
        }
        if ((int)answer[0] == 2) throw IdempotencyStore.Reused();
        return (long)answer[1];
    }

    /// <summary>Redis's refusal of an increment (overflow, not an integer) as the caller's conflict; null for any other error.</summary>
    private static HornbeamException? NotCountable(RedisServerException e, string key, long delta) =>
        e.Message.Contains("overflow", StringComparison.OrdinalIgnoreCase)
            ? new(HornbeamError.Conflict, $"Adding {delta} to '{key}' would overflow a 64-bit integer; the value is unchanged.", e)
            : e.Message.Contains("not an integer", StringComparison.OrdinalIgnoreCase)
                ? new(HornbeamError.Conflict,
                    $"The value of '{key}' is not a 64-bit integer, so it cannot be incremented; the value is unchanged.", e)
                : null;

    public Task<long> DecrementAsync(string key, long delta = 1)
    {
        if (delta == long.MinValue)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"delta {delta} cannot be negated; use increment with {long.MaxValue} plus one instead.");
        return IncrementAsync(key, -delta);
    }

    public async Task<IReadOnlyDictionary<string, byte[]?>> GetManyJsonAsync(IReadOnlyCollection<string> requested)
    {
        Count("get_multi");
        if (requested.Count > _options.MaxMultiKeys)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"{requested.Count} keys requested; at most {_options.MaxMultiKeys} are allowed in one request.");
        var distinct = requested.Distinct(StringComparer.Ordinal).ToArray();
        foreach (var key in distinct) ValidateKey(key);
        var result = new Dictionary<string, byte[]?>(distinct.Length, StringComparer.Ordinal);
        if (distinct.Length == 0) return result;

        var values = await batcher.StringGetAsync(Array.ConvertAll(distinct, keys.StateValue));
        for (var i = 0; i < distinct.Length; i++) result[distinct[i]] = (byte[]?)values[i];
        return result;
    }

    public async Task<StateKeysPage> KeysAsync(string? prefix = null, int? limit = null, string? cursor = null)
    {
        Count("keys");
        var take = limit ?? _options.DefaultKeysPage;
        if (take < 1 || take > _options.MaxKeysPage)
            throw new HornbeamException(HornbeamError.InvalidInput, $"limit must be between 1 and {_options.MaxKeysPage}; it was {take}.");
        var after = cursor is null ? null : DecodeCursor(cursor);
        var prefixBytes = Encoding.UTF8.GetBytes(prefix ?? "");

        // A cursor this service issued is the last key of a page, so it starts with the prefix of that listing.
        if (after is not null && !after.AsSpan().StartsWith(prefixBytes))
            throw new HornbeamException(HornbeamError.InvalidInput,
                "cursor does not belong to this prefix; pass the cursor from the previous page of the same listing unchanged.");
        // Keys sort by their UTF-8 bytes; no UTF-8 text holds 0xFF, so prefix+0xFF bounds every key with that prefix.
        // The bounds are ZRANGEBYLEX's: '[' includes, '(' excludes, '-' and '+' are the ends.
        RedisValue from = after is not null ? (byte[])[(byte)'(', .. after]
            : prefixBytes.Length > 0 ? (byte[])[(byte)'[', .. prefixBytes] : "-";
        RedisValue to = prefixBytes.Length > 0 ? (byte[])[(byte)'(', .. prefixBytes, 0xFF] : "+";

        // Each bucket's listing first takes its expired keys out of the index (see RedisScripts.StateList).
        var pages = Enumerable.Range(0, RedisKeys.StateBuckets).Select(b => Db.ScriptEvaluateAsync(RedisScripts.StateList,
            [keys.StateIndexes[b], keys.StateExpiries[b]], [keys.StateValuePrefix(b), SweepBatch, from, to, take + 1])).ToArray();
        await Task.WhenAll(pages);
        var all = new List<byte[]>();
        foreach (var page in pages) all.AddRange(((RedisResult[])page.Result!).Select(v => (byte[])v!));
        all.Sort(static (a, b) => a.AsSpan().SequenceCompareTo(b));

        var more = all.Count > take;
        var chosen = more ? all.GetRange(0, take) : all;
        return new StateKeysPage(chosen.ConvertAll(Encoding.UTF8.GetString), more ? EncodeCursor(chosen[^1]) : null);
    }

    internal void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key))
            throw new HornbeamException(HornbeamError.InvalidInput, "The key is empty; give a non-empty key.");
        var bytes = Encoding.UTF8.GetByteCount(key);
        if (bytes > _options.MaxKeyBytes)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"The key is {bytes} bytes long; at most {_options.MaxKeyBytes} UTF-8 bytes are allowed.");
    }

    /// <summary>
    /// Checks that <paramref name="json"/> is one JSON value within the size limit and answers it without insignificant
    /// white space.
    /// </summary>
    internal byte[] NormalizeValue(ReadOnlySpan<byte> json) => NormalizeValue(json, _options.MaxValueBytes);

    /// <summary>The same, for any capability that takes JSON values (pub/sub messages).</summary>
    internal static byte[] NormalizeValue(ReadOnlySpan<byte> json, int maxValueBytes)
    {
        if (json.Length > maxValueBytes)
            throw new HornbeamException(HornbeamError.TooLarge,
                $"The value is {json.Length} bytes; at most {maxValueBytes} bytes are allowed.");
        JsonRules.Check(json);
        // Printable ASCII with no space and no escape is what writing it compact would give back byte for byte, so
        // such a value (a client library's usual JSON) is kept as sent rather than parsed into a document and written again.
        if (json.IndexOfAnyExceptInRange((byte)'!', (byte)'~') < 0 && json.IndexOf((byte)'\\') < 0) return json.ToArray();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = JsonRules.MaxDepth });
        using var document = JsonDocument.ParseValue(ref reader);
        var buffer = new ArrayBufferWriter<byte>(json.Length);
        using (var writer = new Utf8JsonWriter(buffer, CompactJson)) document.RootElement.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    private static string EncodeCursor(byte[] key) => Base64Url.EncodeToString(key);

    private static byte[] DecodeCursor(string cursor)
    {
        try
        {
            return Base64Url.DecodeFromChars(cursor);
        }
        catch (FormatException)
        {
            throw new HornbeamException(HornbeamError.InvalidInput,
                "cursor is not one this service issued; pass the cursor from the previous page unchanged.");
        }
    }
}
