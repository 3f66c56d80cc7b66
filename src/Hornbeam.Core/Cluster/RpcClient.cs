using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Hornbeam.Redis;
using Hornbeam.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Cluster;

/// <summary>
/// The caller side of RPC: a call to this node runs in-process; any other is one script (XADD to the target's stream and
/// PUBLISH of its doorbell) and then waits for the reply, which one subscription per node routes by correlation id.
/// </summary>
internal sealed class RpcClient : IRpcClient, IHostedService
{
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly NodeIdentity _node;
    private readonly RpcModules _modules;
    private readonly IClusterPresence _presence;
    private readonly RpcServer _server;
    private readonly ClusterOptions _options;
    private readonly ILogger<RpcClient> _logger;
    private readonly RedisChannel _replies;
    private readonly KeptSubscription _subscription;

    public RpcClient(IConnectionMultiplexer redis, RedisChannels channels, RedisKeys keys, NodeIdentity node, RpcModules modules,
        IClusterPresence presence, RpcServer server, IOptions<ClusterOptions> options, ILogger<RpcClient> logger)
    {
        (_redis, _keys, _node, _modules, _presence, _server, _options, _logger) = (redis, keys, node, modules, presence, server,
            options.Value, logger);
        _replies = keys.RpcReplies(node.Name);
        _subscription = channels.Keep(_replies, OnReply, $"the RPC replies of node {node.Name}", probe: true);
        // A node that stopped heartbeating will not answer: its callers hear so now rather than at their deadline.
        presence.NodeLost += FailCallsTo;
    }

    public Task StartAsync(CancellationToken cancellationToken) => _subscription.EnsureAsync();

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription.Dispose();
        return Task.CompletedTask;
    }

    // Untraced (nothing listens to Hornbeam's source), a call costs no span and no extra async frame.
    public Task<JsonElement> CallAsync(string node, string module, string function, IReadOnlyList<JsonElement> args, TimeSpan timeout,
        CancellationToken cancellationToken = default) =>
        HornbeamMetrics.Activities.HasListeners()
            ? CallInSpanAsync(node, module, function, args, timeout, cancellationToken)
            : CallTracedAsync(node, module, function, args, timeout, cancellationToken);

    private async Task<JsonElement> CallInSpanAsync(string node, string module, string function, IReadOnlyList<JsonElement> args,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var activity = StartSpan("rpc.call", node, module, function);
        try
        {
            return await CallTracedAsync(node, module, function, args, timeout, cancellationToken);
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    private async Task<JsonElement> CallTracedAsync(string node, string module, string function, IReadOnlyList<JsonElement> args,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (node == _node.Name) return await CallHereAsync(module, function, args, timeout, cancellationToken);

        // The caller's timeout covers the whole call: finding the node, the first subscription to replies, the send
        // and the reply. On a loaded machine the first two alone have taken seconds.
        var deadline = DateTimeOffset.UtcNow + timeout;
        RedisKey stream;
        byte[] payload;
        try
        {
            (stream, payload) = await PrepareRemoteAsync(node, args).WaitAsync(Left(deadline), cancellationToken);
            await _subscription.EnsureAsync().WaitAsync(Left(deadline), cancellationToken);
        }
        // WaitAsync's timeout is the caller's; a Redis command's own (RedisTimeoutException, also a TimeoutException) is an
        // outage, answered as one.
        catch (TimeoutException e) when (e is not RedisTimeoutException)
        {
            throw TimedOut(node, module, function, timeout);
        }
        var id = Guid.NewGuid().ToString("N");
        var pending = new Pending(node, new TaskCompletionSource<RpcReply>(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending[id] = pending;
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            // A send given up on here may still land: the serving node drops a call whose deadline has passed.
            await SendAsync(stream, node, id, RpcWire.Call, module, function, payload, deadline)
                .WaitAsync(Left(deadline), cancellationToken);
            var reply = await pending.Reply.Task.WaitAsync(Left(deadline), cancellationToken);
            if (reply.Ok) outcome = "ok";
            return reply.Ok ? reply.Result : throw Failure(node, module, function, reply);
        }
        catch (TimeoutException e) when (e is not RedisTimeoutException)
        {
            outcome = "timeout";
            throw TimedOut(node, module, function, timeout);
        }
        finally
        {
            _pending.TryRemove(id, out _);
            HornbeamMetrics.RpcDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    public async Task CastAsync(string node, string module, string function, IReadOnlyList<JsonElement> args,
        CancellationToken cancellationToken = default)
    {
        // The span covers the send; the handler's span, on the serving node, is its child.
        using var activity = StartSpan("rpc.cast", node, module, function);
        try
        {
            await CastTracedAsync(node, module, function, args, cancellationToken);
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    private static Activity? StartSpan(string operation, string node, string module, string function)
    {
        var activity = HornbeamMetrics.Activities.StartActivity($"{operation} {module}.{function}", ActivityKind.Client);
        activity?.SetTag("rpc.system", "hornbeam").SetTag("rpc.service", module).SetTag("rpc.method", function)
            .SetTag("hornbeam.node", node);
        return activity;
    }

    private async Task CastTracedAsync(string node, string module, string function, IReadOnlyList<JsonElement> args,
        CancellationToken cancellationToken)
    {
        RedisKey stream;
        byte[] payload;
        if (node == _node.Name)
        {
            var target = _modules.Get(module, function);
            if (!_server.StreamsSupported)
            {
                var limit = TimeSpan.FromMilliseconds(_options.MaxRpcTimeoutMs);
                _server.RunCastHere($"Cast of {module}:{function} on node '{_node.Name}'", async () =>
                {
                    using var deadline = new CancellationTokenSource(limit);
                    await target.InvokeAsync(args, deadline.Token);
                });
                return;
            }
            // A cast to this node goes through its own stream too: it waits there within the same caps and survives a restart.
            (stream, payload) = (_keys.RpcRequests(node), Encode(args));
        }
        else
        {
            (stream, payload) = await PrepareRemoteAsync(node, args).WaitAsync(cancellationToken);
        }
        // The deadline is for older nodes, which drop a cast unrun past it; this version runs a cast however long it waited.
        await SendAsync(stream, node, "", RpcWire.Cast, module, function, payload,
            DateTimeOffset.UtcNow.AddMilliseconds(_options.MaxRpcTimeoutMs))
            .WaitAsync(cancellationToken);
    }

    private async Task<JsonElement> CallHereAsync(string module, string function, IReadOnlyList<JsonElement> args, TimeSpan timeout,
        CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            // WaitAsync also bounds a function that ignores its token.
            return await _modules.InvokeAsync(module, function, args, deadline.Token).AsTask().WaitAsync(deadline.Token);
        }
        catch (FunctionFailedException e)
        {
            throw new RpcFailedException(_node.Name, e.Function, e.Reason);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw TimedOut(_node.Name, module, function, timeout);
        }
    }

    private async Task<(RedisKey Stream, byte[] Payload)> PrepareRemoteAsync(string node, IReadOnlyList<JsonElement> args)
    {
        if (!await _presence.IsLiveAsync(node))
            throw new HornbeamException(HornbeamError.NotFound,
                $"node '{node}' is not live: it is unknown or has stopped. GET /nodes lists the live nodes.");
        if (!_server.StreamsSupported)
            throw new HornbeamException(HornbeamError.Unavailable,
                "this Redis store has no stream commands, so only calls to this node itself are possible.");
        return (_keys.RpcRequests(node), Encode(args));
    }

    private byte[] Encode(IReadOnlyList<JsonElement> args)
    {
        var payload = RpcWire.EncodeArgs(args);
        if (payload.Length > _options.MaxPayloadBytes)
            throw new HornbeamException(HornbeamError.TooLarge,
                $"The arguments are {payload.Length} bytes of JSON; at most {_options.MaxPayloadBytes} bytes may go through Redis.");
        return payload;
    }

    // A full stream refuses the request rather than trimming unfinished ones: the caller hears 503 overloaded.
    private async Task SendAsync(RedisKey stream, string target, string id, string kind, string module, string function, byte[] args,
        DateTimeOffset deadline)
    {
        var sent = await _redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.RpcSend, [stream],
        [
            _options.RequestStreamMaxLength, _keys.RpcDoorbell(target).ToString(),
            id, kind, _node.Name, kind == RpcWire.Call ? _replies.ToString() : "", module, function, args,
            deadline.ToUnixTimeMilliseconds(),
            Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : "",
        ]);
        if (sent.IsNull)
            throw RpcServer.Overloaded(target,
                $"has {_options.RequestStreamMaxLength} requests waiting, its limit (Hornbeam:Cluster:RequestStreamMaxLength)");
    }

    private void OnReply(RedisValue message)
    {
        if (RpcReply.Parse((byte[])message!) is not { } parsed)
        {
            _logger.LogWarning("Node {Node} ignored a malformed RPC reply.", _node.Name);
            return;
        }
        // No entry: the caller gave up (timeout) before the reply came.
        if (_pending.TryGetValue(parsed.Id, out var pending)) pending.Reply.TrySetResult(parsed.Reply);
    }

    private void FailCallsTo(string node)
    {
        foreach (var pending in _pending.Values.Where(p => p.Target == node))
            pending.Reply.TrySetException(new HornbeamException(HornbeamError.OutcomeUnknown,
                $"node '{node}' stopped heartbeating while the call was in flight; it may or may not have run."));
    }

    private static string Display(string module, string function) =>
        module == RpcModules.FunctionsModule ? function : $"{module}:{function}";

    private static TimeSpan Left(DateTimeOffset deadline) =>
        deadline - DateTimeOffset.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;

    private static HornbeamException TimedOut(string node, string module, string function, TimeSpan timeout) =>
        new(HornbeamError.Timeout, $"node '{node}' did not answer '{Display(module, function)}' within {timeout.TotalMilliseconds:0} ms.");

    // The reply's kind travels as its problem type, so a remote conflict is a conflict here too; the function's own failure
    // (handler-failed) names the node it ran on.
    private static HornbeamException Failure(string node, string module, string function, RpcReply reply)
    {
        var message = reply.Message ?? "(no message)";
        var kind = RpcWire.KindOf(reply);
        return kind == HornbeamError.HandlerFailed
            ? new RpcFailedException(node, Display(module, function), message)
            : new HornbeamException(kind, message);
    }

    private sealed record Pending(string Target, TaskCompletionSource<RpcReply> Reply);
}
