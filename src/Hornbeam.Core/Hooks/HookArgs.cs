using System.Text.Json;

namespace Hornbeam.Hooks;

/// <summary>The arguments of one hook call: positional <see cref="Args"/> and named <see cref="Kwargs"/>, as JSON.</summary>
public sealed record HookArgs(IReadOnlyList<JsonElement> Args, IReadOnlyDictionary<string, JsonElement> Kwargs)
{
    /// <summary>No arguments at all.</summary>
    public static HookArgs Empty { get; } = new([], new Dictionary<string, JsonElement>());

    /// <summary>Positional arguments serialised with <see cref="HookJson.Options"/>, no keyword arguments.</summary>
    public static HookArgs From(params object?[] args) =>
        new(args.Select(a => JsonSerializer.SerializeToElement(a, a?.GetType() ?? typeof(object), HookJson.Options)).ToArray(),
            new Dictionary<string, JsonElement>());

    /// <summary>These arguments plus one keyword argument serialised with <see cref="HookJson.Options"/>.</summary>
    public HookArgs With(string name, object? value) =>
        this with
        {
            Kwargs = new Dictionary<string, JsonElement>(Kwargs)
            {
                [name] = JsonSerializer.SerializeToElement(value, value?.GetType() ?? typeof(object), HookJson.Options)
            }
        };
}

/// <summary>How hook arguments are read into C# parameters and results written as JSON: web defaults, snake_case names.</summary>
public static class HookJson
{
    /// <summary>The options; property names are matched case-insensitively when reading.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Any value (including an already-JSON <see cref="JsonElement"/>) as a JSON element.</summary>
    public static JsonElement ToElement(object? value) => value switch
    {
        JsonElement e => e,
        null => JsonSerializer.SerializeToElement<object?>(null, Options),
        _ => JsonSerializer.SerializeToElement(value, value.GetType(), Options),
    };
}
