using System.Net.WebSockets;
using System.Text.Json;
using Hornbeam.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Hooks;

/// <summary>
/// The hook workers connected to this node and the app_paths they serve. A served app_path is offered to the cluster as RPC
/// function <c>{app_path}</c> of module <c>hooks</c> (and of <c>hook_workers</c>, which tells it apart from a C# hook), so
/// other nodes reach it as they reach a C# hook; presence is renewed and announced at once when the offer changes.
/// </summary>
internal sealed class HookWorkers(HookRegistry registry, RpcModules modules, ClusterPresence presence, NodeIdentity node,
    IServiceProvider services, IOptions<HookOptions> options, IOptions<HornbeamOptions> hornbeam, IHostApplicationLifetime lifetime,
    ILogger<HookWorkers> logger) : IHookWorkers
{
    /// <summary>The module that lists, per node, the hooks a worker serves there.</summary>
    public const string WorkersModule = "hook_workers";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Dictionary<string, HookWorkerConnection[]> _served = new(StringComparer.Ordinal);

    public TimeSpan KeepAlive => TimeSpan.FromSeconds(options.Value.WorkerKeepAliveSeconds);

    /// <summary>Serves one worker's WebSocket until it closes or this node stops.</summary>
    public Task ServeAsync(WebSocket socket)
    {
        var connection = new HookWorkerConnection(socket, this, (int)Math.Min(int.MaxValue, hornbeam.Value.MaxRequestBodyBytes), logger);
        logger.LogInformation("Hook worker {Connection} connected to node {Node}.", connection.Id, node.Name);
        return connection.RunAsync(node.Name, options.Value.WorkerKeepAliveSeconds * 1000, lifetime.ApplicationStopping);
    }

    /// <summary>A connected worker serving <paramref name="appPath"/> here, a random one; null when none is.</summary>
    public HookWorkerConnection? Pick(string appPath)
    {
        if (!_served.TryGetValue(appPath, out var connections)) return null;
        // One that has just gone stays listed until its removal is announced; calls go to the others meanwhile.
        var live = connections.Where(c => !c.IsGone).ToArray();
        return live.Length == 0 ? null : live[Random.Shared.Next(live.Length)];
    }

    /// <summary>The app_paths workers serve on this node.</summary>
    public IReadOnlyCollection<string> AppPaths => _served.Keys;

    public async Task RegisterAsync(HookWorkerConnection connection, string appPath)
    {
        if (registry.TryGet(appPath, out var handler) || modules.IsFixed(HookRemote.HooksModule, appPath))
            throw Taken(appPath, node.Name, handler is null ? "C#" : $"C# {handler.Kind}");
        IReadOnlyList<NodeInfo> live;
        try
        {
            live = await presence.LiveNodesAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new HornbeamException(HornbeamError.Unavailable,
                $"Could not read the cluster's hooks to register '{appPath}': {e.Message}");
        }
        // A worker may join workers elsewhere; it may not shadow a C# hook, which every caller would stop reaching.
        if (live.FirstOrDefault(n => n.Node != node.Name && Lists(n, HookRemote.HooksModule, appPath) && !Lists(n, WorkersModule, appPath))
            is { } other)
            throw Taken(appPath, other.Node, "C#");
        bool first;
        await _gate.WaitAsync();
        try
        {
            var current = _served.GetValueOrDefault(appPath) ?? [];
            if (current.Contains(connection)) return;
            if (connection.IsGone)
                throw new HornbeamException(HornbeamError.BadGateway, $"Hook worker {connection.Id} disconnected while registering.");
            first = current.Length == 0;
            if (first)
            {
                var offer = Offer(appPath);
                if (!modules.TryAddDynamic(HookRemote.HooksModule, appPath, offer)) throw Taken(appPath, node.Name, "C#");
                modules.TryAddDynamic(WorkersModule, appPath, offer);
            }
            _served = new(_served, StringComparer.Ordinal) { [appPath] = [.. current, connection] };
        }
        finally
        {
            _gate.Release();
        }
        logger.LogInformation("Hook worker {Connection} serves hook {AppPath} on node {Node}.", connection.Id, appPath, node.Name);
        if (first) await presence.AdvertiseNowAsync();
    }

    public Task UnregisterAsync(HookWorkerConnection connection, string appPath) => LeaveAsync(connection, [appPath]);

    /// <summary>Everything a worker served leaves with it.</summary>
    public Task RemoveAsync(HookWorkerConnection connection) =>
        LeaveAsync(connection, _served.Where(s => s.Value.Contains(connection)).Select(s => s.Key).ToArray());

    private async Task LeaveAsync(HookWorkerConnection connection, IReadOnlyList<string> appPaths)
    {
        var last = false;
        await _gate.WaitAsync();
        try
        {
            var next = new Dictionary<string, HookWorkerConnection[]>(_served, StringComparer.Ordinal);
            foreach (var appPath in appPaths)
            {
                if (!next.TryGetValue(appPath, out var current) || !current.Contains(connection)) continue;
                var left = current.Where(c => c != connection).ToArray();
                if (left.Length > 0)
                {
                    next[appPath] = left;
                    continue;
                }
                next.Remove(appPath);
                modules.RemoveDynamic(HookRemote.HooksModule, appPath);
                modules.RemoveDynamic(WorkersModule, appPath);
                last = true;
                logger.LogInformation("Hook {AppPath} left node {Node}: no worker serves it here any more.", appPath, node.Name);
            }
            _served = next;
        }
        finally
        {
            _gate.Release();
        }
        if (last) await presence.AdvertiseNowAsync();
    }

    private RpcFunction Offer(string appPath) => new($"{HookRemote.HooksModule}:{appPath}",
        (a, ct) => new ValueTask<JsonElement>(services.GetRequiredService<HookRpcHandlers>().ExecuteAsync(appPath, a, ct)));

    private static bool Lists(NodeInfo n, string module, string appPath) =>
        n.Modules.TryGetValue(module, out var names) && names.Contains(appPath);

    private static HornbeamException Taken(string appPath, string where, string kind) =>
        new(HornbeamError.Conflict,
            $"Hook '{appPath}' is a {kind} hook on node '{where}'; a worker serving the same name would shadow it. " +
            "Choose another app_path.");
}
