using System.Collections.Concurrent;
using System.Diagnostics;
using Hornbeam.Redis;
using Hornbeam.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Cluster;

/// <summary>
/// Serves this node's request stream. A doorbell message (pub/sub) triggers a non-blocking XREADGROUP loop that takes
/// as many entries as there are free handler slots (<see cref="ClusterOptions.MaxConcurrentRpcHandlers"/>); the rest wait
/// in the stream, unread. A slow sweep reads too, in case a doorbell was missed. A finished request is acknowledged,
/// deleted and answered in one script, so what is pending in the group is exactly what was taken and not finished.
/// A read whose answer is lost (it timed out, or the connection dropped) may still have taken entries in Redis; the next
/// drain takes, from this consumer's pending list, every entry no handler here has, so none waits there for ever.
/// </summary>
internal sealed class RpcServer(
    IConnectionMultiplexer redis, RedisChannels channels, RedisKeys keys, NodeIdentity node, RpcModules modules,
    IOptions<ClusterOptions> options, ILogger<RpcServer> logger) : IHostedService
{
    private const int ReadBatch = 128;

    private readonly ClusterOptions _options = options.Value;
    // The sweep loop, requests taken from the stream, and in-process casts: shutdown waits for all of them.
    private readonly BackgroundWork _work = new(logger);
    private readonly ConcurrentQueue<(RedisValue Entry, string? ReplyTo, byte[]? Reply)> _unsettled = new();
    // Entries this process took and has not finished (running, or waiting in _unsettled).
    private readonly ConcurrentDictionary<RedisValue, byte> _taken = new();
    private readonly RedisKey _stream = keys.RpcRequests(node.Name);
    private bool _groupReady;
    private bool _recovered;
    private int _draining;
    private int _again;
    private int _running;
    private int _capped;
    private int _readLost;

    /// <summary>False once the store answered that it has no stream commands (the embedded Garnet store).</summary>
    public bool StreamsSupported { get; private set; } = true;

    /// <summary>Requests from the stream (and in-process casts on a store without streams) running now.</summary>
    public int Running => Volatile.Read(ref _running);

    private IDatabase Db => redis.GetDatabase();

    private KeptSubscription? _doorbell;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _doorbell = channels.Keep(keys.RpcDoorbell(node.Name), _ => Ring(), $"the RPC doorbell of node {node.Name}",
            probe: true);
        await _doorbell.EnsureAsync();
        await TryEnsureGroupAsync();
        _work.Start($"The RPC sweep of node {node.Name}", SweepLoopAsync);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Requests already taken get their replies before the node goes; the host's shutdown timeout bounds the wait.
        // Requests not taken stay in the stream for a node restarted with the same name.
        await _work.StopAsync(cancellationToken);
        _doorbell?.Dispose();
        if (StreamsSupported)
        {
            try
            {
                await SettleAsync().WaitAsync(cancellationToken);
                var left = (long)await Db.ScriptEvaluateAsync(RedisScripts.RpcRetire, [_stream],
                    [(long)_options.OrphanedRequestRetention.TotalMilliseconds]).WaitAsync(cancellationToken);
                if (left > 0)
                    logger.LogWarning("Node {Node} stops with {Count} request(s) unfinished in its stream; a node started with the same " +
                        "name within {Retention} takes them.",
                        node.Name, left, _options.OrphanedRequestRetention);
            }
            catch (Exception e) when (e is RedisException or OperationCanceledException or TimeoutException or ObjectDisposedException)
            {
                logger.LogWarning("Node {Node} could not retire its request stream: {Message}", node.Name, e.Message);
            }
        }
    }

    /// <summary>Runs work in the background, tracked so that shutdown waits for it and failures are logged.</summary>
    public void RunInBackground(string what, Func<Task> work) => _work.Start(what, _ => work());

    /// <summary>
    /// Runs a cast in-process within the handler cap, for a store without streams; throws Overloaded when every slot is taken.
    /// </summary>
    public void RunCastHere(string what, Func<Task> work)
    {
        int running;
        do
        {
            running = Volatile.Read(ref _running);
            if (running >= _options.MaxConcurrentRpcHandlers) throw Overloaded(node.Name,
                $"runs {running} requests, its limit (Hornbeam:Cluster:MaxConcurrentRpcHandlers)");
        } while (Interlocked.CompareExchange(ref _running, running + 1, running) != running);
        RunInBackground(what, async () =>
        {
            try
            {
                await work();
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        });
    }

    /// <summary>The answer to a call or cast this node cannot take now: 503 overloaded (a retry or another node may succeed).</summary>
    public static HornbeamException Overloaded(string node, string why) =>
        new(HornbeamError.Overloaded, $"node '{node}' {why}; retry shortly.");

    private async Task SweepLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.SweepInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (!StreamsSupported) return;
                if (!_groupReady) await TryEnsureGroupAsync();
                else
                {
                    // A peer that took this node for dead (a long pause) may have set its stream to expire: it is live again.
                    _ = Db.KeyPersistAsync(_stream, CommandFlags.FireAndForget);
                    await SettleAsync();
                }
                Ring();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task TryEnsureGroupAsync()
    {
        try
        {
            // Position 0: requests queued for this name before the group existed are served.
            await Db.StreamCreateConsumerGroupAsync(_stream, RpcWire.ConsumerGroup, "0", createStream: true);
        }
        catch (RedisServerException e) when (e.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
        }
        catch (RedisServerException e) when (e.Message.Contains("unknown command", StringComparison.OrdinalIgnoreCase))
        {
            StreamsSupported = false;
            logger.LogInformation("The Redis store has no stream commands, so node {Node} serves only calls to itself (in-process).",
                node.Name);
            return;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning("Node {Node} could not create its RPC consumer group yet: {Message}", node.Name, e.Message);
            return;
        }
        try
        {
            // A previous process with this name left its stream to expire; it is this node's again.
            await Db.KeyPersistAsync(_stream);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning("Node {Node} could not keep its request stream from expiring: {Message}", node.Name, e.Message);
            return;
        }
        _groupReady = true;
        Ring();
    }

    // Doorbells and finished handlers may ring while a drain runs: the flag makes that drain go round once more instead of starting a
    // second one.
    private void Ring()
    {
        if (!_groupReady || _work.IsStopping) return;
        Volatile.Write(ref _again, 1);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainAsync();
    }

    private async Task DrainAsync()
    {
        // Whatever span was current where the doorbell rang is not the parent of the requests read here: each brings its own.
        Activity.Current = null;
        while (true)
        {
            Volatile.Write(ref _again, 0);
            try
            {
                if (!_recovered)
                {
                    await AbandonUnfinishedAsync();
                    _recovered = true;
                }
                // Cleared only once the pending list has been read in full; a failure leaves it for the next drain.
                if (Volatile.Read(ref _readLost) == 1)
                {
                    await TakeLostAsync();
                    Volatile.Write(ref _readLost, 0);
                }
                while (!_work.IsStopping)
                {
                    // Only this loop takes slots, so the free count can only grow while it reads.
                    var room = _options.MaxConcurrentRpcHandlers - Volatile.Read(ref _running);
                    if (room <= 0)
                    {
                        // At the cap, a finishing handler rings for the next entry. Flag first, then look again (both
                        // sides fence), so a handler that finished in between is not missed.
                        Interlocked.Exchange(ref _capped, 1);
                        if (_options.MaxConcurrentRpcHandlers - Volatile.Read(ref _running) <= 0) break;
                        continue;
                    }
                    var free = Math.Min(ReadBatch, room);
                    var entries = await Db.StreamReadGroupAsync(_stream, RpcWire.ConsumerGroup, node.Name, StreamPosition.NewMessages,
                        free);
                    foreach (var entry in entries) Take(entry);
                    if (entries.Length < free)
                    {
                        // The stream is drained: new entries come with their doorbell.
                        Volatile.Write(ref _capped, 0);
                        break;
                    }
                }
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // A peer deleted the stream while this node looked dead (a long pause); recreate it on the next sweep.
                _groupReady = false;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Redis may have run the read and delivered entries whose answer never came back: look for them next time.
                Volatile.Write(ref _readLost, 1);
                logger.LogWarning("Node {Node} could not read its RPC requests: {Message}", node.Name, e.Message);
            }
            catch (Exception e)
            {
                // Whatever went wrong, the drain ends here so that the next doorbell or sweep starts another.
                Volatile.Write(ref _readLost, 1);
                logger.LogError(e, "Node {Node} failed reading its RPC requests", node.Name);
            }
            Volatile.Write(ref _draining, 0);
            if (Volatile.Read(ref _again) == 0 || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;
        }
    }

    private void Take(StreamEntry entry)
    {
        _taken[entry.Id] = 0;
        Interlocked.Increment(ref _running);
        _work.Track(HandleAsync(entry));
    }

    /// <summary>
    /// Entries delivered to this consumer by a read whose answer was lost: in its pending list, yet in no handler of this
    /// process. They were never started, so running them now keeps every request run at most once; a call whose caller
    /// has given up meanwhile is skipped as usual. The sweep rings within its interval, so they wait no longer than that.
    /// </summary>
    private async Task TakeLostAsync()
    {
        RedisValue after = "0";
        while (true)
        {
            var entries = await Db.StreamReadGroupAsync(_stream, RpcWire.ConsumerGroup, node.Name, after, ReadBatch);
            if (entries.Length == 0) return;
            foreach (var entry in entries)
            {
                if (_taken.ContainsKey(entry.Id)) continue;
                logger.LogWarning("Node {Node} takes RPC request {Entry}, delivered by a read whose answer was lost.", node.Name,
                    entry.Id);
                Take(entry);
            }
            after = entries[^1].Id;
        }
    }

    /// <summary>
    /// Entries this node's name took but never finished belong to a previous process that died while running them: they
    /// may have had effects, so they are not run again (at most once). A caller still waiting hears outcome-unknown.
    /// </summary>
    private async Task AbandonUnfinishedAsync()
    {
        while (true)
        {
            var entries = await Db.StreamReadGroupAsync(_stream, RpcWire.ConsumerGroup, node.Name, "0", ReadBatch);
            if (entries.Length == 0) return;
            foreach (var entry in entries)
            {
                var request = RpcRequest.Parse(entry);
                byte[]? reply = null;
                if (request is { Kind: RpcWire.Call, ReplyTo: not null }
                    && request.Deadline > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
                    reply = RpcWire.Error(request.Id ?? "", HornbeamError.OutcomeUnknown,
                        $"node '{node.Name}' restarted while running '{request.Module}:{request.Function}'; it may or may not have run.");
                logger.LogWarning("Node {Node} restarted: {Kind} {Module}:{Function} from {From} (entry {Entry}) was running in its " +
                    "previous process and is not run again.",
                    node.Name, request?.Kind, request?.Module, request?.Function, request?.From, entry.Id);
                await DoneAsync(entry.Id, request?.ReplyTo, reply);
            }
        }
    }

    // Finishes requests whose finishing failed (Redis was away), each once more per sweep until it succeeds.
    private async Task SettleAsync()
    {
        for (var n = _unsettled.Count; n > 0 && _unsettled.TryDequeue(out var done); n--)
        {
            try
            {
                await DoneAsync(done.Entry, done.ReplyTo, done.Reply);
                _taken.TryRemove(done.Entry, out _);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                _unsettled.Enqueue(done);
                return;
            }
        }
    }

    private Task DoneAsync(RedisValue entryId, string? replyTo, byte[]? reply) =>
        Db.ScriptEvaluateAsync(RedisScripts.RpcDone, [_stream],
            [RpcWire.ConsumerGroup, entryId, reply is null ? "" : replyTo ?? "", reply ?? Array.Empty<byte>()]);

    private async Task HandleAsync(StreamEntry entry)
    {
        var request = RpcRequest.Parse(entry);
        byte[]? reply = null;
        try
        {
            if (request is null)
            {
                logger.LogWarning("Node {Node} skipped malformed RPC request {Entry}.", node.Name, entry.Id);
                return;
            }
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (request.Kind == RpcWire.Call && request.Deadline <= now)
            {
                logger.LogDebug("Skipped {Module}:{Function} from {From}: its caller's deadline has passed.", request.Module,
                    request.Function, request.From);
                return;
            }
            // A cast may wait behind a backlog for any time; once it runs it gets the longest time a call may take.
            var remaining = request.Kind == RpcWire.Call
                ? TimeSpan.FromMilliseconds(request.Deadline - now)
                : TimeSpan.FromMilliseconds(_options.MaxRpcTimeoutMs);
            using var activity = StartSpan(request);
            var (json, failure) = await RunAsync(request.Id ?? "", request.Module, request.Function, request.Args, remaining);
            if (failure is not null) activity?.SetStatus(ActivityStatusCode.Error, failure);
            if (request.Kind == RpcWire.Call) reply = json;
            else if (failure is not null) logger.LogWarning("Cast of {Module}:{Function} from {From} failed: {Message}", request.Module,
                request.Function, request.From, failure);
        }
        finally
        {
            try
            {
                await DoneAsync(entry.Id, request?.ReplyTo, reply);
                _taken.TryRemove(entry.Id, out _);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Retried by the sweep (the caller may still be waiting); were this process to die first, a restarted one
                // reports it as outcome unknown rather than running it twice.
                logger.LogWarning("Node {Node} could not acknowledge or answer RPC request {Entry}: {Message}", node.Name, entry.Id,
                    e.Message);
                _unsettled.Enqueue((entry.Id, request?.ReplyTo, reply));
            }
            var running = Interlocked.Decrement(ref _running);
            // Only when entries wait behind the cap (otherwise the doorbell of the next request rings), and once a few
            // slots are free, so a busy node takes entries in batches rather than one read per finished request.
            if (Volatile.Read(ref _capped) == 1
                && _options.MaxConcurrentRpcHandlers - running >= Math.Max(1, _options.MaxConcurrentRpcHandlers / 8)) Ring();
        }
    }

    // The handler's span is a child of the caller's when the entry carries its trace context (an older caller's does not).
    private Activity? StartSpan(RpcRequest request)
    {
        ActivityContext.TryParse(request.TraceParent, null, isRemote: true, out var parent);
        var activity = HornbeamMetrics.Activities.StartActivity($"rpc.{request.Kind} {request.Module}.{request.Function}",
            ActivityKind.Server, parent);
        activity?.SetTag("rpc.system", "hornbeam").SetTag("rpc.service", request.Module).SetTag("rpc.method", request.Function)
            .SetTag("hornbeam.node", node.Name).SetTag("hornbeam.rpc.from", request.From);
        return activity;
    }

    private async Task<(byte[] Json, string? Failure)> RunAsync(string id, string module, string function, byte[] args, TimeSpan remaining)
    {
        using var deadline = new CancellationTokenSource(remaining);
        try
        {
            var result = await modules.InvokeAsync(module, function, RpcWire.DecodeArgs(args), deadline.Token).AsTask()
                .WaitAsync(deadline.Token);
            return (RpcWire.Ok(id, result), null);
        }
        catch (FunctionFailedException e)
        {
            return (RpcWire.Error(id, HornbeamError.HandlerFailed, e.Reason), e.Message);
        }
        catch (HornbeamException e)
        {
            return (RpcWire.Error(id, e.Error, e.Message), e.Message);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            var message = $"'{module}:{function}' did not finish on node '{node.Name}' before the caller's deadline.";
            return (RpcWire.Error(id, HornbeamError.Timeout, message), message);
        }
        catch (Exception e)
        {
            logger.LogError(e, "{Module}:{Function} failed unexpectedly on node {Node}", module, function, node.Name);
            return (RpcWire.Error(id, HornbeamError.Internal, e.Message), e.Message);
        }
    }
}
