using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Tasks;
using Hornbeam.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Hooks;

/// <summary>
/// Finds where a hook lives (this node's C# hooks, then a worker connected to this node or another live node that offers
/// it, then HTTP hooks) and runs it there.
/// </summary>
internal sealed class Hooks(HookRegistry registry, HttpHookStore httpHooks, HttpHookClient http, HookTasks tasks,
    IServiceScopeFactory scopes, NodeIdentity node, HookRemote remote, HookWorkers workers) : IHooks
{
    public async Task<JsonElement> ExecuteAsync(string appPath, string action, HookArgs? args = null,
        CancellationToken cancellationToken = default)
    {
        HookNames.Validate(appPath, action);
        args ??= HookArgs.Empty;
        using var activity = StartSpan(appPath, action);
        try
        {
            if (registry.TryGet(appPath, out var handler))
            {
                activity?.SetTag("hornbeam.hook.kind", handler.Kind);
                return await ExecuteLocalAsync(handler, appPath, action, args, cancellationToken);
            }
            var (worker, target) = await PlaceAsync(appPath);
            if (worker is not null)
            {
                activity?.SetTag("hornbeam.hook.kind", "worker");
                return await worker.ExecuteAsync(appPath, action, args, cancellationToken);
            }
            if (target is not null)
            {
                // The RPC to the node that has the hook is this span's child, and the hook's run there a child of that.
                activity?.SetTag("hornbeam.hook.kind", "remote").SetTag("hornbeam.node", target);
                return await remote.ExecuteAsync(target, appPath, action, args, cancellationToken);
            }
            var hook = await httpHooks.GetAsync(appPath) ?? throw NoSuchHook(appPath);
            activity?.SetTag("hornbeam.hook.kind", "http");
            return await http.ExecuteAsync(hook, action, args, cancellationToken);
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    /// <summary>Runs a C# hook of this node only: what another node asks for over RPC.</summary>
    internal async Task<JsonElement> ExecuteHereAsync(string appPath, string action, HookArgs args, CancellationToken ct)
    {
        HookNames.Validate(appPath, action);
        var worker = registry.TryGet(appPath, out var handler) ? null : workers.Pick(appPath) ?? throw NotHere(appPath);
        using var activity = StartSpan(appPath, action);
        activity?.SetTag("hornbeam.hook.kind", handler?.Kind ?? "worker");
        try
        {
            return worker is not null
                ? await worker.ExecuteAsync(appPath, action, args, ct)
                : await ExecuteLocalAsync(handler!, appPath, action, args, ct);
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    // Workers here and nodes offering the hook share its calls: this node counts as one more candidate node.
    private (HookWorkerConnection? Worker, string? Node) Place(string appPath)
    {
        var worker = workers.Pick(appPath);
        var nodes = remote.OfferingNodes(appPath);
        var pick = Random.Shared.Next(nodes.Length + (worker is null ? 0 : 1));
        return pick < nodes.Length ? (null, nodes[pick]) : (worker, null);
    }

    // A hook that appeared on another node a moment ago may not be in this node's view yet: read presence once before a 404.
    private async ValueTask<(HookWorkerConnection? Worker, string? Node)> PlaceAsync(string appPath)
    {
        var placed = Place(appPath);
        if (placed.Worker is not null || placed.Node is not null || registry.TryGet(appPath, out _)) return placed;
        await remote.RefreshAsync();
        return Place(appPath);
    }

    private static Activity? StartSpan(string appPath, string action) =>
        HornbeamMetrics.Activities.StartActivity($"hook {appPath}.{action}")
            ?.SetTag("hornbeam.hook.app_path", appPath).SetTag("hornbeam.hook.action", action);

    /// <summary>Starts a task of a C# hook of this node, which then holds its lease.</summary>
    internal Task<string> StartTaskHereAsync(string appPath, string action, HookArgs args)
    {
        HookNames.Validate(appPath, action);
        if (!registry.TryGet(appPath, out var handler) && workers.Pick(appPath) is null) throw NotHere(appPath);
        if (handler?.HasAction(action) == false) throw NoSuchAction(appPath, action);
        return tasks.StartAsync(appPath, action, ct => ExecuteHereAsync(appPath, action, args, ct));
    }

    internal IAsyncEnumerable<JsonElement> StreamHereAsync(string appPath, string action, HookArgs args, CancellationToken ct)
    {
        HookNames.Validate(appPath, action);
        if (registry.TryGet(appPath, out var handler)) return StreamLocalAsync(handler, appPath, action, args, ct);
        return (workers.Pick(appPath) ?? throw NotHere(appPath)).StreamAsync(appPath, action, args, ct);
    }

    public async Task<string> ExecuteInBackgroundAsync(string appPath, string action, HookArgs? args = null)
    {
        HookNames.Validate(appPath, action);
        args ??= HookArgs.Empty;
        // Refuse what can be known to fail before handing out a task id.
        if (registry.TryGet(appPath, out _)) return await StartTaskHereAsync(appPath, action, args);
        // A hook of another node runs as a task there, so the node doing the work holds the lease.
        var (worker, target) = await PlaceAsync(appPath);
        if (worker is not null) return await StartTaskHereAsync(appPath, action, args);
        if (target is not null) return await remote.StartTaskAsync(target, appPath, action, args);
        if (await httpHooks.GetAsync(appPath) is null) throw NoSuchHook(appPath);
        return await tasks.StartAsync(appPath, action, ct => ExecuteAsync(appPath, action, args, ct));
    }

    public Task<HookTaskResult> AwaitResultAsync(string taskId, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        tasks.AwaitAsync(taskId, timeout, cancellationToken);

    public async IAsyncEnumerable<JsonElement> StreamAsync(string appPath, string action, HookArgs? args = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        HookNames.Validate(appPath, action);
        args ??= HookArgs.Empty;
        if (registry.TryGet(appPath, out var handler))
        {
            await foreach (var chunk in StreamLocalAsync(handler, appPath, action, args, cancellationToken)) yield return chunk;
            yield break;
        }
        var (worker, target) = await PlaceAsync(appPath);
        if (worker is not null)
        {
            await foreach (var chunk in worker.StreamAsync(appPath, action, args, cancellationToken)) yield return chunk;
            yield break;
        }
        if (target is not null)
        {
            await foreach (var chunk in remote.StreamAsync(target, appPath, action, args, cancellationToken)) yield return chunk;
            yield break;
        }
        var hook = await httpHooks.GetAsync(appPath) ?? throw NoSuchHook(appPath);
        await foreach (var chunk in http.StreamAsync(hook, action, args, cancellationToken)) yield return chunk;
    }

    public Task RegisterHttpAsync(string appPath, string url)
    {
        if (registry.TryGet(appPath, out var handler))
            throw new HornbeamException(HornbeamError.Conflict,
                $"Hook '{appPath}' is a C# {handler.Kind} hook on node '{node.Name}'; an HTTP hook of the same name would never run. " +
                "Choose another app_path.");
        if (workers.Pick(appPath) is not null)
            throw new HornbeamException(HornbeamError.Conflict,
                $"Hook '{appPath}' is served by a worker on node '{node.Name}'; an HTTP hook of the same name would never run. " +
                "Choose another app_path.");
        if (remote.Offering(appPath) is { } target)
            throw new HornbeamException(HornbeamError.Conflict,
                $"Hook '{appPath}' is a C# hook or a worker's on node '{target}'; an HTTP hook of the same name would never run. " +
                "Choose another app_path.");
        return httpHooks.RegisterAsync(appPath, url);
    }

    public Task<bool> UnregisterHttpAsync(string appPath) => httpHooks.UnregisterAsync(appPath);

    public async Task<IReadOnlyList<HookInfo>> ListAsync()
    {
        var hooks = new SortedDictionary<string, HookInfo>(StringComparer.Ordinal);
        foreach (var hook in await httpHooks.ListAsync()) hooks[hook.AppPath] = new(hook.AppPath, "http", [], hook.Url);
        foreach (var group in (await remote.AdvertisedAsync()).GroupBy(h => h.AppPath))
            hooks[group.Key] = new(group.Key, group.All(h => h.Worker) ? "worker" : "csharp",
                group.Select(h => h.Node).Order(StringComparer.Ordinal).ToArray(), null);
        foreach (var appPath in workers.AppPaths)
            hooks[appPath] = new(appPath, "worker",
                (hooks.TryGetValue(appPath, out var elsewhere) && elsewhere.Kind == "worker" ? elsewhere.Nodes : [])
                    .Append(node.Name).Order(StringComparer.Ordinal).ToArray(), null);
        foreach (var appPath in registry.AppPaths)
            if (registry.TryGet(appPath, out var handler))
                hooks[appPath] = new(appPath, handler.Kind,
                    (hooks.TryGetValue(appPath, out var elsewhere) && elsewhere.Kind != "http" ? elsewhere.Nodes : [])
                        .Append(node.Name).Order(StringComparer.Ordinal).ToArray(), null);
        return hooks.Values.ToArray();
    }

    private async Task<JsonElement> ExecuteLocalAsync(HookHandler handler, string appPath, string action, HookArgs args,
        CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        HookOutcome outcome = default;
        try
        {
            outcome = await handler.InvokeAsync(appPath, action, args, scope.ServiceProvider, ct);
            return await HookResults.ToElementAsync(outcome.Value, ct);
        }
        catch (Exception e) when (Wrap(e, appPath, action, ct) is { } wrapped)
        {
            throw wrapped;
        }
        finally
        {
            await HookResults.DisposeAsync(outcome.Owner);
        }
    }

    private async IAsyncEnumerable<JsonElement> StreamLocalAsync(HookHandler handler, string appPath, string action, HookArgs args,
        [EnumeratorCancellation] CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        HookOutcome outcome;
        try
        {
            outcome = await handler.InvokeAsync(appPath, action, args, scope.ServiceProvider, ct);
        }
        catch (Exception e) when (Wrap(e, appPath, action, ct) is { } wrapped)
        {
            throw wrapped;
        }
        try
        {
            if (HookResults.AsStream(outcome.Value, ct) is not { } stream)
            {
                yield return HookJson.ToElement(outcome.Value);
                yield break;
            }
            await using var items = stream.GetAsyncEnumerator(ct);
            while (true)
            {
                JsonElement chunk;
                try
                {
                    if (!await items.MoveNextAsync()) break;
                    chunk = HookJson.ToElement(items.Current);
                }
                catch (Exception e) when (Wrap(e, appPath, action, ct) is { } wrapped)
                {
                    throw wrapped;
                }
                yield return chunk;
            }
        }
        finally
        {
            await HookResults.DisposeAsync(outcome.Owner);
        }
    }

    // Hornbeam's own errors (binding, unknown action) and a caller's cancellation pass as they are; anything else the handler threw is its
    // failure.
    private static Exception? Wrap(Exception e, string appPath, string action, CancellationToken ct) => e switch
    {
        HornbeamException => null,
        OperationCanceledException when ct.IsCancellationRequested => null,
        _ => new HornbeamException(HornbeamError.HandlerFailed, $"Hook '{appPath}' action '{action}' failed: {e.Message}", e),
    };

    private static HornbeamException NoSuchHook(string appPath) =>
        new(HornbeamError.NotFound, $"No hook '{appPath}' is registered (no C# hook or worker serves it and no HTTP hook).");

    private HornbeamException NotHere(string appPath) =>
        new(HornbeamError.NotFound, $"Node '{node.Name}' has no C# hook or worker serving '{appPath}' (any more).");

    private static HornbeamException NoSuchAction(string appPath, string action) =>
        new(HornbeamError.NotFound, $"Hook '{appPath}' has no action '{action}'.");
}
