using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hornbeam.Functions;

/// <summary>
/// Registered functions (the seed's <c>call</c> and <c>cast</c>): C# functions registered with <c>AddFunction</c> on some
/// or all nodes, and HTTP endpoints registered at run time. A call runs here when this node has the function, else on a
/// live node that has it, else at its HTTP endpoint.
/// </summary>
public interface IFunctions
{
    /// <summary>
    /// Calls <paramref name="name"/> and answers its result. Throws <see cref="HornbeamException"/>: NotFound when no live
    /// node and no HTTP registration has it; InvalidInput for wrong arguments; HandlerFailed when the function threw;
    /// Timeout past <paramref name="timeout"/>; BadGateway when an HTTP endpoint failed.
    /// </summary>
    Task<JsonElement> CallAsync(string name, IReadOnlyList<JsonElement> args, TimeSpan timeout,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts <paramref name="name"/> without waiting for it; failures are logged. Unknown names throw NotFound; a full
    /// request stream, or too many HTTP casts in flight on this node, throws Overloaded.
    /// </summary>
    Task CastAsync(string name, IReadOnlyList<JsonElement> args, CancellationToken cancellationToken = default);

    /// <summary>Every function that can be called, and where it runs.</summary>
    Task<IReadOnlyList<FunctionDescription>> ListAsync();

    /// <summary>Registers (or replaces) an HTTP function; the URL's scheme, host and port must be on the allow-list.</summary>
    Task RegisterHttpAsync(string name, string? url);

    /// <summary>Removes an HTTP function; false when none had that name.</summary>
    Task<bool> UnregisterHttpAsync(string name);
}

/// <summary>A callable function: <c>csharp</c> with the live nodes that offer it, or <c>http</c> with its endpoint.</summary>
public sealed record FunctionDescription(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("nodes")] IReadOnlyList<string>? Nodes,
    [property: JsonPropertyName("url")] string? Url);
