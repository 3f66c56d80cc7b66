using System.Text.Json;
using Hornbeam.Tasks;

namespace Hornbeam.Hooks;

/// <summary>
/// The seed's hook execution: <c>execute</c>, <c>execute_async</c> + <c>await_result</c>, <c>stream</c>, and the HTTP
/// side of <c>register_hook</c> / <c>unregister_hook</c>. Callers never need to know where a hook lives.
/// </summary>
public interface IHooks
{
    /// <summary><c>execute</c>: runs the action and answers its result as JSON (a streaming result is collected into an array).</summary>
    Task<JsonElement> ExecuteAsync(string appPath, string action, HookArgs? args = null, CancellationToken cancellationToken = default);

    /// <summary><c>execute_async</c>: starts the action as a task and answers its id (32 hex digits, 128 random bits).</summary>
    Task<string> ExecuteInBackgroundAsync(string appPath, string action, HookArgs? args = null);

    /// <summary>
    /// <c>await_result</c>: waits up to <paramref name="timeout"/>; a task still running then is answered as running,
    /// and may be waited for again.
    /// </summary>
    Task<HookTaskResult> AwaitResultAsync(string taskId, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary><c>stream</c> / <c>stream_async</c>: the action's chunks in order; cancelling stops the handler.</summary>
    IAsyncEnumerable<JsonElement> StreamAsync(string appPath, string action, HookArgs? args = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Registers (or replaces) an HTTP hook for every replica; the URL's scheme, host and port must be on
    /// <c>Hornbeam:Webhooks:AllowedHosts</c>.
    /// </summary>
    Task RegisterHttpAsync(string appPath, string url);

    /// <summary>Removes an HTTP hook; answers whether there was one.</summary>
    Task<bool> UnregisterHttpAsync(string appPath);

    /// <summary>Every hook callable from here and where it runs.</summary>
    Task<IReadOnlyList<HookInfo>> ListAsync();
}

/// <summary>
/// A hook and where it runs: <see cref="Kind"/> is function, class, instance or http; <see cref="Nodes"/> the nodes
/// that have a C# hook, <see cref="Url"/> an HTTP hook's base URL.
/// </summary>
public sealed record HookInfo(string AppPath, string Kind, IReadOnlyList<string> Nodes, string? Url);
