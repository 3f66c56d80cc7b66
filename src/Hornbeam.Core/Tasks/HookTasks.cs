using Hornbeam.Telemetry;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Tasks;

/// <summary>
/// Async tasks (the seed's <c>execute_async</c> / <c>await_result</c>). State lives in a Redis hash per task, so any
/// replica answers for any task; the running node holds a lease it renews, and a waiter that finds the lease gone marks
/// the task failed. Waiters are woken by a pub/sub message on the task's channel, not by polling.
/// </summary>
internal sealed class HookTasks(RedisConnection connection, RedisKeys keys, NodeIdentity node, IOptions<TaskOptions> options, ILogger<HookTasks> logger)
    : BackgroundService
{
    private readonly TaskOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();
    private readonly CancellationTokenSource _shutdown = new();
    private Task? _stopping;

    // A hosted service is built before the connection starts, so the multiplexer is looked up on use.
    private IConnectionMultiplexer redis => connection.Multiplexer;

    private IDatabase Db => redis.GetDatabase();

    private static void CountState(string state) => HornbeamMetrics.TaskStates.Add(1, new KeyValuePair<string, object?>("state", state));

    /// <summary>Records a running task owned by this node and runs <paramref name="work"/> in the background; answers the task id.</summary>
    public async Task<string> StartAsync(string appPath, string action, Func<CancellationToken, Task<JsonElement>> work)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var now = Now();
        await Db.ScriptEvaluateAsync(RedisScripts.TaskStart, [keys.Task(id), keys.TaskLease(id)],
            [_options.RetentionSeconds, _options.LeaseMilliseconds, node.Name,
             "status", "running", "node", node.Name, "app_path", appPath, "action", action, "created", now, "updated", now]);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
        _running[id] = cts;
        CountState("started");
        _ = Task.Run(() => RunAsync(id, appPath, action, work, cts));
        return id;
    }

    private async Task RunAsync(string id, string appPath, string action, Func<CancellationToken, Task<JsonElement>> work, CancellationTokenSource cts)
    {
        try
        {
            var result = await work(cts.Token);
            await FinishAsync(id, "status", "succeeded", "result", result.GetRawText(), "updated", Now());
            CountState("succeeded");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // Shutdown writes the failure itself; a lost lease means a waiter already did.
        }
        catch (Exception e)
        {
            CountState("failed");
            var kind = e is HornbeamException h ? h.Error : HornbeamError.HandlerFailed;
            var message = e is HornbeamException ? e.Message : $"Hook '{appPath}' action '{action}' failed: {e.Message}";
            try
            {
                await FinishAsync(id, "status", "failed", "error", message, "error_kind", kind.ToString(), "updated", Now());
            }
            catch (Exception write)
            {
                logger.LogWarning(write, "Could not record the failure of task {TaskId}; its lease will lapse and waiters will see it failed.", id);
            }
        }
        finally
        {
            _running.TryRemove(id, out _);
            cts.Dispose();
        }
    }

    private async Task<bool> FinishAsync(string id, params RedisValue[] fields)
    {
        var ended = (int)await Db.ScriptEvaluateAsync(RedisScripts.TaskFinish, [keys.Task(id), keys.TaskLease(id)], [_options.RetentionSeconds, .. fields]) == 1;
        if (ended) await redis.GetSubscriber().PublishAsync(keys.TaskChannel(id), "done");
        return ended;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the task to end; answers its state (still running at the timeout).</summary>
    public async Task<HookTaskResult> AwaitAsync(string id, TimeSpan timeout, CancellationToken ct)
    {
        if (!IsTaskId(id)) throw Unknown(id);
        var deadline = DateTime.UtcNow + timeout;
        using var wake = new SemaphoreSlim(0);
        Action<RedisChannel, RedisValue> onDone = (_, _) => wake.Release();
        var channel = keys.TaskChannel(id);
        var subscriber = redis.GetSubscriber();
        // Subscribe first, then read: an end between the two is seen by the read, one after it by the message.
        await subscriber.SubscribeAsync(channel, onDone).WaitAsync(ct);
        try
        {
            while (true)
            {
                var (state, lease) = await ReadAsync(id);
                if (state is null) throw Unknown(id);
                if (state.Status != HookTaskStatus.Running) return state;
                if (lease is null && await AbandonAsync(id, state.Node)) continue;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return state;
                // Wake when the lease could have lapsed, to notice a dead node without being told.
                var leaseCheck = (lease ?? TimeSpan.Zero) + TimeSpan.FromMilliseconds(50);
                await wake.WaitAsync(left < leaseCheck ? left : leaseCheck, ct);
            }
        }
        finally
        {
            await subscriber.UnsubscribeAsync(channel, onDone);
        }
    }

    /// <summary>The task's state now, without waiting.</summary>
    public async Task<HookTaskResult?> GetAsync(string id) => IsTaskId(id) ? (await ReadAsync(id)).State : null;

    private async Task<(HookTaskResult? State, TimeSpan? Lease)> ReadAsync(string id)
    {
        var batch = Db.CreateBatch();
        var fields = batch.HashGetAllAsync(keys.Task(id));
        var lease = batch.KeyTimeToLiveAsync(keys.TaskLease(id));
        batch.Execute();
        var entries = (await fields).ToDictionary(e => e.Name.ToString(), e => e.Value);
        if (!entries.TryGetValue("status", out var status)) return (null, null);
        var node = entries.GetValueOrDefault("node").ToString();
        HookTaskResult state = status.ToString() switch
        {
            "succeeded" => new(id, HookTaskStatus.Succeeded, node, JsonDocument.Parse(entries["result"].ToString()).RootElement.Clone()),
            "failed" => new(id, HookTaskStatus.Failed, node, null,
                Enum.TryParse<HornbeamError>(entries.GetValueOrDefault("error_kind").ToString(), out var kind) ? kind : HornbeamError.HandlerFailed,
                entries.GetValueOrDefault("error").ToString()),
            _ => new(id, HookTaskStatus.Running, node),
        };
        return (state, await lease);
    }

    private async Task<bool> AbandonAsync(string id, string owner)
    {
        var message = $"Node '{owner}' stopped renewing this task's lease (it died or lost Redis) before the task finished; the task was not retried.";
        var ended = (int)await Db.ScriptEvaluateAsync(RedisScripts.TaskAbandon, [keys.Task(id), keys.TaskLease(id)],
            [_options.RetentionSeconds, "status", "failed", "error", message, "error_kind", nameof(HornbeamError.HandlerFailed), "updated", Now()]) == 1;
        if (ended)
        {
            logger.LogWarning("Task {TaskId} on node {Node} lost its lease; marked failed.", id, owner);
            await redis.GetSubscriber().PublishAsync(keys.TaskChannel(id), "done");
        }
        return ended;
    }

    /// <summary>Renews the lease of every task this node runs; a task whose lease is gone was declared dead, so it stops.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lease = TimeSpan.FromMilliseconds(_options.LeaseMilliseconds);
        using var timer = new PeriodicTimer(lease / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // One round trip for all of this node's tasks: the commands are pipelined, then awaited together.
                await Task.WhenAll(_running.Select(running => RenewAsync(running.Key, running.Value, lease)));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RenewAsync(string id, CancellationTokenSource run, TimeSpan lease)
    {
        try
        {
            var renewed = Db.KeyExpireAsync(keys.TaskLease(id), lease);
            var kept = Db.KeyExpireAsync(keys.Task(id), TimeSpan.FromSeconds(_options.RetentionSeconds));
            if (!await renewed && _running.ContainsKey(id)) await run.CancelAsync();
            await kept;
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
            logger.LogWarning("Could not renew the lease of task {TaskId}: {Message}", id, e.Message);
        }
    }

    /// <summary>A node that stops cleanly fails its running tasks at once rather than leaving waiters to find the lease lapsed.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The web host may stop twice (its own Run and a caller's StopAsync), and dispose the connection after the first.
        Task stopping;
        lock (_running) stopping = _stopping ??= FailRunningTasksAsync();
        await stopping;
        await base.StopAsync(cancellationToken);
    }

    private async Task FailRunningTasksAsync()
    {
        // Fail first, then cancel: a cancelled run removes itself from the set and writes nothing.
        foreach (var id in _running.Keys.ToArray())
        {
            try
            {
                await FinishAsync(id, "status", "failed", "error_kind", nameof(HornbeamError.HandlerFailed),
                    "error", $"Node '{node.Name}' stopped before the task finished; the task was not retried.", "updated", Now());
            }
            catch (Exception e) when (e is RedisException or ObjectDisposedException)
            {
                logger.LogWarning("Could not fail task {TaskId} at shutdown ({Message}); its lease will lapse instead.", id, e.Message);
            }
        }
        await _shutdown.CancelAsync();
    }

    internal static bool IsTaskId(string id) => id.Length == 32 && id.All(char.IsAsciiHexDigitLower);

    private HornbeamException Unknown(string id) => new(HornbeamError.NotFound,
        $"No task '{id}': it never existed, or it ended more than {_options.RetentionSeconds} s ago and its result expired.");

    private static string Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}
