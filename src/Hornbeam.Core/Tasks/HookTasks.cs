using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Hornbeam.Telemetry;
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
/// <remarks>
/// A node runs at most <see cref="TaskOptions.MaxRunningPerNode"/> tasks. A task's end is written by exactly one of:
/// its runner (result or error, retried across a Redis blink), its node's shutdown, or a waiter that found the lease
/// lapsed; the first write stands. The last two record the one dead-node failure, <see cref="HornbeamError.OutcomeUnknown"/>.
/// </remarks>
internal sealed class HookTasks(IConnectionMultiplexer redis, RedisChannels channels, RedisKeys keys, NodeIdentity node,
    IOptions<TaskOptions> options, ILogger<HookTasks> logger)
    : BackgroundService
{
    private readonly TaskOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, Run> _running = new();
    // The runs of tasks: shutdown cancels them and waits for the ones still recording their end.
    private readonly BackgroundWork _work = new(logger);
    private int _slots;
    private Task? _stopping;

    private IDatabase Db => redis.GetDatabase();

    private static void CountState(string state) => HornbeamMetrics.TaskStates.Add(1, new KeyValuePair<string, object?>("state", state));

    /// <summary>One task this node runs: its cancellation, the token its end is written with, and who claimed writing that end.</summary>
    private sealed class Run(CancellationTokenSource cancel)
    {
        private int _claimed;

        public CancellationTokenSource Cancel { get; } = cancel;

        /// <summary>Marks the task's own end write, so a retry whose first attempt was applied unconfirmed knows it.</summary>
        public string Finisher { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

        /// <summary>True once the runner or the shutdown took the task's end; only the one that did writes it.</summary>
        public bool Claimed => Volatile.Read(ref _claimed) != 0;

        /// <summary>True while the runner writes the end its work produced (what a stopping node waits for).</summary>
        public bool Recording => Volatile.Read(ref _claimed) == 1;

        public bool TryClaimForRunner() => Interlocked.CompareExchange(ref _claimed, 1, 0) == 0;

        public bool TryClaimForShutdown() => Interlocked.CompareExchange(ref _claimed, 2, 0) == 0;
    }

    /// <summary>
    /// Records a running task owned by this node and runs <paramref name="work"/> in the background; answers the task id.
    /// Refuses with <see cref="HornbeamError.Overloaded"/>, storing nothing, when the node already runs its maximum.
    /// </summary>
    public async Task<string> StartAsync(string appPath, string action, Func<CancellationToken, Task<JsonElement>> work)
    {
        // A slot is taken before anything is stored, so a refused start leaves no task behind.
        if (Interlocked.Increment(ref _slots) > _options.MaxRunningPerNode || _work.IsStopping)
        {
            Interlocked.Decrement(ref _slots);
            CountState("refused");
            throw new HornbeamException(HornbeamError.Overloaded, _work.IsStopping
                ? $"Node '{node.Name}' is stopping and starts no more tasks; start it on another replica."
                : $"Node '{node.Name}' already runs {_options.MaxRunningPerNode} tasks (Hornbeam:Tasks:MaxRunningPerNode); nothing was " +
                    "started. Retry later or on another replica.");
        }
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var now = Now();
        try
        {
            await Db.ScriptEvaluateAsync(RedisScripts.TaskStart, [keys.Task(id), keys.TaskLease(id)],
                [_options.RetentionSeconds, _options.LeaseMilliseconds, node.Name,
                 "status", "running", "node", node.Name, "app_path", appPath, "action", action, "created", now, "updated", now]);
        }
        catch
        {
            Interlocked.Decrement(ref _slots);
            throw;
        }
        var run = new Run(CancellationTokenSource.CreateLinkedTokenSource(_work.Stopping));
        _running[id] = run;
        CountState("started");
        _work.Start($"Task {id} ({appPath}.{action})", _ => RunAsync(id, appPath, action, work, run));
        return id;
    }

    private async Task RunAsync(string id, string appPath, string action, Func<CancellationToken, Task<JsonElement>> work, Run run)
    {
        // A child of whatever started the task (its request), though it may outlive it.
        using var activity = HornbeamMetrics.Activities.StartActivity($"task {appPath}.{action}")
            ?.SetTag("hornbeam.task.id", id).SetTag("hornbeam.hook.app_path", appPath).SetTag("hornbeam.hook.action", action);
        Task<JsonElement>? working = null;
        try
        {
            RedisValue[] end;
            string state;
            try
            {
                working = work(run.Cancel.Token);
                // At shutdown the end is written already: work that ignores its cancellation is not waited for.
                var result = await working.WaitAsync(_work.Stopping);
                end = ["status", "succeeded", "result", result.GetRawText(), "updated", Now()];
                state = "succeeded";
            }
            catch (OperationCanceledException) when (run.Cancel.IsCancellationRequested || _work.IsStopping)
            {
                // Shutdown writes the end itself; a renewal that found the task ended means a waiter already did.
                return;
            }
            catch (Exception e)
            {
                var (kind, message) = e is HornbeamException h
                    ? (h.Error, h.Message)
                    : (HornbeamError.HandlerFailed, $"Hook '{appPath}' action '{action}' failed: {e.Message}");
                end = ["status", "failed", .. ErrorFields(kind, message), "updated", Now()];
                state = "failed";
                activity?.SetStatus(ActivityStatusCode.Error, message);
            }
            // A shutdown that claimed the end first has written the dead-node failure.
            if (run.TryClaimForRunner() && await FinishAsync(id, run.Finisher, end)) CountState(state);
        }
        finally
        {
            _running.TryRemove(id, out _);
            Interlocked.Decrement(ref _slots);
            // Work left running at shutdown keeps a token it can still read.
            if (working is null || working.IsCompleted) run.Cancel.Dispose();
        }
    }

    /// <summary>
    /// Writes a task's end, retrying with backoff while Redis cannot take it, for up to
    /// <see cref="TaskOptions.FinishRetrySeconds"/>: a result that exists is never reported as a failure because one write
    /// failed. The task stays in <see cref="_running"/> meanwhile, so its lease is renewed and no waiter declares it dead
    /// unless Redis was gone for longer than the lease. Answers false when the end was not written (someone else's stands).
    /// </summary>
    private async Task<bool> FinishAsync(string id, string finisher, RedisValue[] fields)
    {
        var budget = TimeSpan.FromSeconds(_options.FinishRetrySeconds);
        var clock = Stopwatch.StartNew();
        var pause = TimeSpan.FromMilliseconds(50);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var outcome = (int)await Db.ScriptEvaluateAsync(RedisScripts.TaskFinish, [keys.Task(id), keys.TaskLease(id)],
                    [_options.RetentionSeconds, finisher, .. fields]);
                if (outcome == 0)
                {
                    logger.LogWarning("Task {TaskId} had already ended (declared dead, or expired) when its node recorded its end; the " +
                        "first end stands.", id);
                    return false;
                }
                // Inside the retry: a lost notification would leave waiters asleep until their next lease check.
                await redis.GetSubscriber().PublishAsync(keys.TaskChannel(id), "done");
                return true;
            }
            catch (Exception e) when (IsTransient(e) && clock.Elapsed + pause < budget)
            {
                CountState("finish_retried");
                logger.LogWarning("Could not record the end of task {TaskId} (attempt {Attempt}: {Message}); retrying.", id, attempt,
                    e.Message);
            }
            catch (Exception e)
            {
                // Out of time, shut down (the connection is gone), or a failure no retry mends: nobody awaits this run, so say it here.
                logger.LogError(e, "Gave up recording the end of task {TaskId} after {Attempts} attempts; once its lease lapses, waiters " +
                    "see it failed (outcome unknown).", id, attempt);
                return false;
            }
            // Not cut short by shutdown: a finished task's result is worth the wait, and the host's stop timeout bounds it.
            await Task.Delay(pause);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    // What a blink looks like from here: Redis refused, did not answer, or (with a deadline) did not confirm.
    private static bool IsTransient(Exception e) =>
        e is RedisException or TimeoutException
            || e is HornbeamException { Error: HornbeamError.Unavailable or HornbeamError.OutcomeUnknown };

    /// <summary>Waits up to <paramref name="timeout"/> for the task to end; answers its state (still running at the timeout).</summary>
    public async Task<HookTaskResult> AwaitAsync(string id, TimeSpan timeout, CancellationToken ct)
    {
        if (!IsTaskId(id)) throw Unknown(id);
        var deadline = DateTime.UtcNow + timeout;
        // Subscribe first, then read: an end between the two is seen by the read, one after it by the message.
        using var wake = await channels.WaitOnAsync(keys.TaskChannel(id), ct);
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
            "failed" => new(id, HookTaskStatus.Failed, node, null, ErrorKind(entries), entries.GetValueOrDefault("error").ToString()),
            _ => new(id, HookTaskStatus.Running, node),
        };
        return (state, await lease);
    }

    // The error travels as its problem type URN, the same encoding as HTTP answers and RPC replies; its status rides along
    // for readers that do not parse types.
    private static RedisValue[] ErrorFields(HornbeamError kind, string message) =>
        ["error_type", HornbeamErrors.Type(kind), "error_status", HornbeamErrors.Status(kind), "error", message];

    private static HornbeamError ErrorKind(Dictionary<string, RedisValue> entries)
    {
        if (HornbeamErrors.TryParse(entries.GetValueOrDefault("error_type"), out var kind)) return kind;
        // Records written before the URN carried the enum's name in error_kind; they are read as that kind still.
        var name = entries.GetValueOrDefault("error_kind").ToString();
        return Enum.GetNames<HornbeamError>().Contains(name) ? Enum.Parse<HornbeamError>(name) : HornbeamError.HandlerFailed;
    }

    /// <summary>
    /// The one failure of a task whose node stopped (cleanly or not) before it ended. The action was started, so its
    /// effects may have happened: outcome unknown, and it is never run again by Hornbeam.
    /// </summary>
    private static RedisValue[] NodeLost(string owner) => ErrorFields(HornbeamError.OutcomeUnknown,
        $"Node '{owner}' stopped (shut down, crashed or lost Redis) before this task finished. The action had started, so some or all " +
        "of its effects may have happened; Hornbeam does not run it again. Check for its effects, and start it again only if it is safe " +
        "to repeat.");

    private async Task<bool> AbandonAsync(string id, string owner)
    {
        var ended = (int)await Db.ScriptEvaluateAsync(RedisScripts.TaskAbandon, [keys.Task(id), keys.TaskLease(id)],
            [_options.RetentionSeconds, "status", "failed", .. NodeLost(owner), "finisher", "lease-lapsed", "updated", Now()]) == 1;
        if (ended)
        {
            logger.LogWarning("Task {TaskId} on node {Node} lost its lease; marked failed (outcome unknown).", id, owner);
            await redis.GetSubscriber().PublishAsync(keys.TaskChannel(id), "done");
        }
        return ended;
    }

    /// <summary>Renews the lease of every task this node runs; a task found ended by someone else stops.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.LeaseMilliseconds) / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // One round trip for all of this node's tasks: the commands are pipelined, then awaited together.
                await Task.WhenAll(_running.Select(running => RenewAsync(running.Key, running.Value)));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RenewAsync(string id, Run run)
    {
        try
        {
            var running = (int)await Db.ScriptEvaluateAsync(RedisScripts.TaskRenew, [keys.Task(id), keys.TaskLease(id)],
                [_options.LeaseMilliseconds, node.Name, _options.RetentionSeconds]) == 1;
            // Ended while its work still runs: a waiter declared this node dead, so the work's result would be discarded.
            if (!running && !run.Claimed) await run.Cancel.CancelAsync();
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or TimeoutException or HornbeamException)
        {
            logger.LogWarning("Could not renew the lease of task {TaskId}: {Message}", id, e.Message);
        }
    }

    /// <summary>
    /// A node that stops cleanly fails its running tasks at once rather than leaving waiters to find the lease lapsed, then
    /// lets tasks that already finished record their end (within the host's stop timeout).
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The web host may stop twice (its own Run and a caller's StopAsync), and dispose the connection after the first.
        Task stopping;
        lock (_running) stopping = _stopping ??= FailRunningTasksAsync();
        await stopping;
        // Cancels the runs and waits for them: a run whose failure was just written returns at once, so what is waited for
        // is the ends already known, being recorded.
        await _work.StopAsync(cancellationToken);
        var unrecorded = _running.Values.Count(run => run.Recording);
        if (unrecorded > 0)
            logger.LogWarning("Stopped before {Count} finished tasks recorded their end; their leases will lapse.", unrecorded);
        await base.StopAsync(cancellationToken);
    }

    private async Task FailRunningTasksAsync()
    {
        // Claim and fail first, then cancel (StopAsync): a cancelled run writes nothing, and one whose work ended first keeps
        // its own end.
        foreach (var (id, run) in _running.ToArray())
        {
            if (!run.TryClaimForShutdown()) continue;
            try
            {
                if ((int)await Db.ScriptEvaluateAsync(RedisScripts.TaskFinish, [keys.Task(id), keys.TaskLease(id)],
                        [_options.RetentionSeconds, run.Finisher, "status", "failed", .. NodeLost(node.Name), "updated", Now()]) != 0)
                    await redis.GetSubscriber().PublishAsync(keys.TaskChannel(id), "done");
            }
            catch (Exception e) when (e is RedisException or ObjectDisposedException or TimeoutException or HornbeamException)
            {
                logger.LogWarning("Could not fail task {TaskId} at shutdown ({Message}); its lease will lapse instead.", id, e.Message);
            }
        }
    }

    internal static bool IsTaskId(string id) => id.Length == 32 && id.All(char.IsAsciiHexDigitLower);

    private HornbeamException Unknown(string id) => new(HornbeamError.NotFound,
        $"No task '{id}': it never existed, or it ended more than {_options.RetentionSeconds} s ago and its result expired.");

    private static string Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}
