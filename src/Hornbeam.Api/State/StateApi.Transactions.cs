using System.Runtime.InteropServices;
using System.Text.Json;
using Hornbeam.Api.Json;
using Hornbeam.State;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.State;

// Many keys in one request: POST /state/transaction (all or nothing) and POST /state/bulk (each key on its own).
public static partial class StateApi
{
    private const string TransactionShape =
        "The body must be an object with an 'operations' array, e.g. {\"operations\": [{\"op\": \"set\", \"key\": \"a\", \"value\": 1}, " +
        "{\"op\": \"incr\", \"key\": \"c\", \"delta\": 2}]}";

    public static async Task<RawJson<StateTransactionResults>> Transaction(HttpRequest http, IStateStore state,
        IOptions<HornbeamOptions> options)
    {
        using var body = await ReadJsonAsync(http, options.Value, TransactionShape);
        if (body.RootElement.ValueKind != JsonValueKind.Object
            || !body.RootElement.TryGetProperty("operations"u8, out var list) || list.ValueKind != JsonValueKind.Array)
            throw Invalid(TransactionShape + ".");
        var operations = new List<StateOperation>(list.GetArrayLength());
        foreach (var element in list.EnumerateArray()) operations.Add(Operation(element, operations.Count));
        var results = await state.TransactAsync(operations);
        return new RawJson<StateTransactionResults>(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("results"u8);
            foreach (var result in results)
            {
                w.WriteStartObject();
                w.WriteString("key"u8, result.Key);
                if (result.ETag is not null) w.WriteString("etag"u8, result.ETag);
                if (result.Value is { } value) w.WriteNumber("value"u8, value);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>One operation of a transaction's body; anything it does not know is refused, so a misspelt field is not ignored.</summary>
    private static StateOperation Operation(JsonElement element, int index)
    {
        var at = $"operations[{index}]";
        if (element.ValueKind != JsonValueKind.Object) throw Invalid($"{at} must be an object with 'op' and 'key'.");
        string? op = null, key = null, ifMatch = null;
        JsonElement? value = null;
        long? delta = null;
        int? ttl = null;
        foreach (var member in element.EnumerateObject())
        {
            switch (member.Name)
            {
                case "op":
                    op = Text(member.Value, $"{at}.op");
                    break;
                case "key":
                    key = Text(member.Value, $"{at}.key");
                    break;
                case "value":
                    value = member.Value;
                    break;
                case "delta":
                    delta = member.Value.ValueKind == JsonValueKind.Number && member.Value.TryGetInt64(out var d) ? d
                        : throw Invalid($"{at}.delta must be a 64-bit whole number; it was {member.Value.GetRawText()}.");
                    break;
                case "if_match":
                    ifMatch = Text(member.Value, $"{at}.if_match");
                    break;
                case "ttl_seconds":
                    ttl = member.Value.ValueKind == JsonValueKind.Number && member.Value.TryGetInt32(out var t) && t >= 1 ? t
                        : throw Invalid($"{at}.ttl_seconds must be a whole number of seconds from 1 to {int.MaxValue}; " +
                                        $"it was {member.Value.GetRawText()}.");
                    break;
                default:
                    throw Invalid($"{at} has '{member.Name}', which is not one of op, key, value, delta, if_match, ttl_seconds.");
            }
        }
        if (key is null) throw Invalid($"{at} has no 'key'.");
        var lifetime = Lifetime(ttl);
        if (delta is not null && op != "incr") throw Invalid($"{at}: 'delta' belongs to incr.");
        return op switch
        {
            "set" when value is { } json => StateOperation.Set(key, JsonMarshal.GetRawUtf8Value(json).ToArray(), ifMatch, lifetime),
            "set" => throw Invalid($"{at} sets '{key}' but has no 'value'."),
            "delete" when value is not null || ttl is not null =>
                throw Invalid($"{at} deletes '{key}' and takes only op, key and if_match."),
            "delete" => StateOperation.Delete(key, ifMatch),
            "incr" when value is not null => throw Invalid($"{at} increments '{key}': give 'delta', not 'value'."),
            "incr" => StateOperation.Increment(key, delta ?? 1, ifMatch, lifetime),
            null => throw Invalid($"{at} has no 'op'; give \"set\", \"delete\" or \"incr\"."),
            _ => throw Invalid($"{at}.op is '{op}'; give \"set\", \"delete\" or \"incr\"."),
        };
    }

    private const string BulkShape = "The body must be an object with a 'values' object of keys and their JSON values, " +
                                     "e.g. {\"values\": {\"user:1\": {\"name\": \"Alice\"}, \"views\": 0}}";

    public static async Task<RawJson<StateBulkResults>> Bulk(HttpRequest http, IStateStore state, IOptions<HornbeamOptions> options,
        int? ttlSeconds = null)
    {
        var ttl = Lifetime(ttlSeconds);
        using var body = await ReadJsonAsync(http, options.Value, BulkShape);
        if (body.RootElement.ValueKind != JsonValueKind.Object
            || !body.RootElement.TryGetProperty("values"u8, out var map) || map.ValueKind != JsonValueKind.Object)
            throw Invalid(BulkShape + ".");
        foreach (var member in body.RootElement.EnumerateObject())
            if (member.Name != "values")
                throw Invalid($"The body has '{member.Name}'; it takes only 'values' (the lifetime is ?ttl_seconds=).");
        var values = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var member in map.EnumerateObject()) values[member.Name] = JsonMarshal.GetRawUtf8Value(member.Value).ToArray();
        var results = await state.SetManyJsonAsync(values, ttl);
        return new RawJson<StateBulkResults>(w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("results"u8);
            foreach (var (key, result) in results)
            {
                w.WriteStartObject(key);
                if (result.Error is { } error)
                {
                    var (status, type, title) = Problems.ProblemTypes.For(error.Error);
                    w.WriteStartObject("error"u8);
                    w.WriteString("type"u8, type);
                    w.WriteString("title"u8, title);
                    w.WriteNumber("status"u8, status);
                    w.WriteString("detail"u8, error.Message);
                    w.WriteEndObject();
                }
                else w.WriteString("etag"u8, result.ETag);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpRequest http, HornbeamOptions options, string shape)
    {
        var body = await RequestBody.ReadAsync(http, (int)Math.Min(options.MaxRequestBodyBytes, int.MaxValue));
        JsonRules.Check(body.Span);
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw Invalid($"{shape}: {e.Message}");
        }
    }

    private static string Text(JsonElement element, string name) => element.ValueKind == JsonValueKind.String
        ? element.GetString()!
        : throw Invalid($"{name} must be a string; it was {element.GetRawText()}.");

    private static HornbeamException Invalid(string message) => new(HornbeamError.InvalidInput, message);
}
