using System.Collections.Concurrent;
using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Cluster;

/// <summary>
/// Serves this node's request stream. A doorbell message (pub/sub) triggers a non-blocking XREADGROUP loop that drains
/// the stream; a slow sweep reads it too, in case a doorbell was missed. Each request runs concurrently, its reply is
/// published on the caller's reply channel, and the entry is then acknowledged and deleted.
/// </summary>
internal sealed class RpcServer(
    RedisConnection connection, RedisKeys keys, NodeIdentity node, RpcModules modules,
    IOptions<ClusterOptions> options, ILogger<RpcServer> logger) : IHostedService
{
    private const int ReadBatch = 128;

    private readonly ClusterOptions _options = options.Value;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _inFlight = new();
    private readonly RedisKey _stream = keys.RpcRequests(node.Name);
    private Task? _sweep;
    private bool _subscribed;
    private bool _groupReady;
    private bool _recovered;
    private int _draining;
    private int _again;

    /// <summary>False once the store answered that it has no stream commands (the embedded Garnet store).</summary>
    public bool StreamsSupported { get; private set; } = true;

    // Resolved when first used: hosted services are built before the connection has started.
    private IConnectionMultiplexer Redis => connection.Multiplexer;

    private IDatabase Db => Redis.GetDatabase();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await TrySubscribeAsync();
        await TryEnsureGroupAsync();
        _sweep = SweepLoopAsync(_stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_sweep is not null) await _sweep.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        try
        {
            await Redis.GetSubscriber().UnsubscribeAsync(keys.RpcDoorbell(node.Name));
        }
        catch (Exception e) when (e is RedisException or ObjectDisposedException)
        {
        }
        // Presence has already left, so only requests sent just before that can still arrive: take them too.
        if (_groupReady)
        {
            try
            {
                StreamEntry[] entries;
                do
                {
                    entries = await Db.StreamReadGroupAsync(_stream, RpcWire.ConsumerGroup, node.Name, StreamPosition.NewMessages, ReadBatch);
                    foreach (var entry in entries) Track(HandleAsync(entry));
                } while (entries.Length == ReadBatch);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
            {
            }
        }
        // Requests already taken get their replies before the node goes; the host's shutdown timeout bounds the wait.
        await Task.WhenAll(_inFlight.Keys).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // The node has left presence, so no caller sends here any more: its stream goes with it.
        if (StreamsSupported)
        {
            try
            {
                await Db.KeyDeleteAsync(_stream).WaitAsync(cancellationToken);
            }
            catch (Exception e) when (e is RedisException or OperationCanceledException or TimeoutException or ObjectDisposedException)
            {
                logger.LogWarning("Node {Node} could not delete its request stream: {Message}", node.Name, e.Message);
            }
        }
    }

    /// <summary>Runs work in the background, tracked so that shutdown waits for it and failures are logged.</summary>
    public void RunInBackground(string what, Func<Task> work)
    {
        var task = Task.Run(async () =>
        {
            try
            {
                await work();
            }
            catch (Exception e)
            {
                logger.LogWarning("{What} failed: {Message}", what, e.Message);
            }
        });
        Track(task);
    }

    private void Track(Task task)
    {
        _inFlight.TryAdd(task, 0);
        task.ContinueWith(t => _inFlight.TryRemove(t, out _), TaskScheduler.Default);
    }

    private async Task SweepLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.SweepInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (!StreamsSupported) return;
                if (!_subscribed) await TrySubscribeAsync();
                if (!_groupReady) await TryEnsureGroupAsync();
                Ring();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task TrySubscribeAsync()
    {
        try
        {
            await Redis.GetSubscriber().SubscribeAsync(keys.RpcDoorbell(node.Name), (_, _) => Ring());
            _subscribed = true;
        }
        catch (RedisException e)
        {
            logger.LogWarning("Node {Node} could not subscribe to its RPC doorbell yet: {Message}", node.Name, e.Message);
        }
    }

    private async Task TryEnsureGroupAsync()
    {
        try
        {
            // Position 0: requests queued for this name before the group existed are served (or skipped when past their deadline).
            await Db.StreamCreateConsumerGroupAsync(_stream, RpcWire.ConsumerGroup, "0", createStream: true);
        }
        catch (RedisServerException e) when (e.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
        }
        catch (RedisServerException e) when (e.Message.Contains("unknown command", StringComparison.OrdinalIgnoreCase))
        {
            StreamsSupported = false;
            logger.LogInformation("The Redis store has no stream commands, so node {Node} serves only calls to itself (in-process).", node.Name);
            return;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning("Node {Node} could not create its RPC consumer group yet: {Message}", node.Name, e.Message);
            return;
        }
        _groupReady = true;
        Ring();
    }

    // Doorbells may arrive while a drain runs: the flag makes that drain go round once more instead of starting a second one.
    private void Ring()
    {
        if (!_groupReady || _stopping.IsCancellationRequested) return;
        Volatile.Write(ref _again, 1);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainAsync();
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            Volatile.Write(ref _again, 0);
            try
            {
                if (!_recovered)
                {
                    // Entries this node's name took but never acknowledged (a previous process that crashed): served once, at start.
                    foreach (var entry in await Db.StreamReadGroupAsync(_stream, RpcWire.ConsumerGroup, node.Name, "0", ReadBatch * 8))
                        Track(HandleAsync(entry));
                    _recovered = true;
                }
                while (!_stopping.IsCancellationRequested)
                {
                    var entries = await Db.StreamReadGroupAsync(_stream, RpcWire.ConsumerGroup, node.Name, StreamPosition.NewMessages, ReadBatch);
                    foreach (var entry in entries) Track(HandleAsync(entry));
                    if (entries.Length < ReadBatch) break;
                }
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // A peer deleted the stream while this node looked dead (a long pause); recreate it on the next sweep.
                _groupReady = false;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                logger.LogWarning("Node {Node} could not read its RPC requests: {Message}", node.Name, e.Message);
            }
            Volatile.Write(ref _draining, 0);
            if (Volatile.Read(ref _again) == 0 || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;
        }
    }

    private async Task HandleAsync(StreamEntry entry)
    {
        string? id = null, kind = null, from = null, replyTo = null, module = null, function = null;
        byte[]? args = null;
        long deadline = 0;
        foreach (var field in entry.Values)
        {
            switch ((string?)field.Name)
            {
                case RpcWire.Id: id = field.Value; break;
                case RpcWire.Kind: kind = field.Value; break;
                case RpcWire.From: from = field.Value; break;
                case RpcWire.ReplyTo: replyTo = field.Value; break;
                case RpcWire.Module: module = field.Value; break;
                case RpcWire.Function: function = field.Value; break;
                case RpcWire.Args: args = field.Value; break;
                case RpcWire.Deadline: _ = long.TryParse(field.Value.ToString(), out deadline); break;
            }
        }
        try
        {
            if (kind is not (RpcWire.Call or RpcWire.Cast) || module is null || function is null || deadline == 0
                || (kind == RpcWire.Call && (id is null || replyTo is null)))
            {
                logger.LogWarning("Node {Node} skipped malformed RPC request {Entry} from {From}.", node.Name, entry.Id, from);
                return;
            }
            var remaining = deadline - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (remaining <= 0)
            {
                logger.LogDebug("Skipped {Module}:{Function} from {From}: its caller's deadline has passed.", module, function, from);
                return;
            }
            var reply = await RunAsync(id ?? "", module, function, args ?? "[]"u8.ToArray(), TimeSpan.FromMilliseconds(remaining));
            if (kind == RpcWire.Call) await Redis.GetSubscriber().PublishAsync(RedisChannel.Literal(replyTo!), reply.Json);
            else if (reply.Failure is { } failure) logger.LogWarning("Cast of {Module}:{Function} from {From} failed: {Message}", module, function, from, failure);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning("Node {Node} could not reply to {Module}:{Function} from {From}: {Message}", node.Name, module, function, from, e.Message);
        }
        finally
        {
            try
            {
                await Task.WhenAll(Db.StreamAcknowledgeAsync(_stream, RpcWire.ConsumerGroup, entry.Id), Db.StreamDeleteAsync(_stream, [entry.Id]));
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                logger.LogWarning("Node {Node} could not acknowledge RPC request {Entry}: {Message}", node.Name, entry.Id, e.Message);
            }
        }
    }

    private async Task<(byte[] Json, string? Failure)> RunAsync(string id, string module, string function, byte[] args, TimeSpan remaining)
    {
        using var deadline = new CancellationTokenSource(remaining);
        try
        {
            var result = await modules.InvokeAsync(module, function, RpcWire.DecodeArgs(args), deadline.Token).AsTask().WaitAsync(deadline.Token);
            return (RpcWire.Ok(id, result), null);
        }
        catch (FunctionFailedException e)
        {
            return (RpcWire.Error(id, "failed", e.Reason), e.Message);
        }
        catch (HornbeamException e)
        {
            return (RpcWire.Error(id, RpcWire.ErrorCode(e.Error), e.Message), e.Message);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            var message = $"'{module}:{function}' did not finish on node '{node.Name}' before the caller's deadline.";
            return (RpcWire.Error(id, "timeout", message), message);
        }
        catch (Exception e)
        {
            logger.LogError(e, "{Module}:{Function} failed unexpectedly on node {Node}", module, function, node.Name);
            return (RpcWire.Error(id, "failed", e.Message), e.Message);
        }
    }
}
