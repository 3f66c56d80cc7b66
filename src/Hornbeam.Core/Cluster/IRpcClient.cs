using System.Text.Json;

namespace Hornbeam.Cluster;

/// <summary>
/// Calls functions of a module on a named node (the seed's <c>rpc_call</c> and <c>rpc_cast</c>). A call to this node
/// runs in-process; any other goes over the node's request stream in Redis and its reply comes back by pub/sub.
/// </summary>
public interface IRpcClient
{
    /// <summary>
    /// Runs <paramref name="module"/>:<paramref name="function"/> on <paramref name="node"/> and answers its JSON result.
    /// Throws <see cref="HornbeamException"/>: NotFound for an unknown or dead node, module or function; InvalidInput for
    /// wrong arguments; Timeout when no answer came within <paramref name="timeout"/>; Overloaded when the node's request
    /// stream is full; OutcomeUnknown when the node died while running it; any other kind the function threw, as it threw
    /// it; and <see cref="RpcFailedException"/> (BadGateway) when the function itself failed.
    /// </summary>
    Task<JsonElement> CallAsync(string node, string module, string function, IReadOnlyList<JsonElement> args, TimeSpan timeout,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Hands the call to <paramref name="node"/>'s request stream and returns without waiting for it to run; its failures
    /// are logged there. Once this returns the cast is stored and runs once, however long it waits (unless its node dies
    /// while running it). Throws NotFound for an unknown or dead node, and, when the node is this one, for an unknown module
    /// or function; Overloaded when the node's request stream is full.
    /// </summary>
    Task CastAsync(string node, string module, string function, IReadOnlyList<JsonElement> args,
        CancellationToken cancellationToken = default);
}

/// <summary>The called function ran on its node and failed; the message names the node, the function and its error.</summary>
public sealed class RpcFailedException(string node, string function, string reason)
    : HornbeamException(HornbeamError.BadGateway, $"function '{function}' on node '{node}' failed: {reason}")
{
    /// <summary>The node the function ran on.</summary>
    public string Node { get; } = node;

    /// <summary>The function's own error message.</summary>
    public string Reason { get; } = reason;
}
