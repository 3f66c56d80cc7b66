using System.Net.WebSockets;

namespace Hornbeam.Hooks;

/// <summary>
/// Hook workers: processes (Python's <c>register_hook</c> with a function, class or instance, or any language speaking the
/// protocol of docs/protocol.md) that connect out to a node over a WebSocket and serve hooks to the whole cluster.
/// </summary>
public interface IHookWorkers
{
    /// <summary>
    /// Serves one worker over an accepted WebSocket until it closes, stops answering pings, or this node stops; its hooks
    /// leave this node when it ends.
    /// </summary>
    Task ServeAsync(WebSocket socket);

    /// <summary>How often the socket should be pinged, and how long a pong may take, as the host accepts it.</summary>
    TimeSpan KeepAlive { get; }
}
