using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Hornbeam.Hooks;

/// <summary>
/// One hook worker: a process connected over a WebSocket that serves hooks (docs/protocol.md, "Hook workers"). Every frame is
/// one JSON text message with a <c>type</c>. The worker registers app_paths; this node pushes <c>execute</c> and
/// <c>stream</c> invocations and reads their <c>result</c>, <c>chunk</c>, <c>done</c> and <c>error</c> replies by <c>id</c>.
/// One receive loop reads everything (so pings are answered while calls run); sends are serialised. When the connection
/// ends, every call still waiting on it fails with 502 bad-gateway and its hooks leave this node.
/// </summary>
internal sealed class HookWorkerConnection
{
    /// <summary>Chunks a worker may send ahead of what the caller has read; credit comes back half a window at a time.</summary>
    public const int Window = 64;

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly HookWorkers _workers;
    private readonly int _maxMessageBytes;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _send = new(1, 1);
    // Registrations of one connection apply in the order sent, off the receive loop.
    private readonly SemaphoreSlim _registering = new(1, 1);
    private readonly ConcurrentDictionary<string, Call> _calls = new(StringComparer.Ordinal);
    private long _nextCall;
    private volatile bool _gone;

    public HookWorkerConnection(WebSocket socket, HookWorkers workers, int maxMessageBytes, ILogger logger)
    {
        _socket = socket;
        _workers = workers;
        _maxMessageBytes = maxMessageBytes;
        _logger = logger;
        Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
    }

    /// <summary>Names this connection in messages and logs.</summary>
    public string Id { get; }

    /// <summary>The connection has ended (its hooks may not have left yet): no call is sent to it any more.</summary>
    public bool IsGone => _gone;

    /// <summary>Serves the worker until it disconnects or <paramref name="stopping"/> (this node stops: close 1001, go away).</summary>
    public async Task RunAsync(string node, int keepAliveMs, CancellationToken stopping)
    {
        try
        {
            await SendAsync(w =>
            {
                w.WriteString("type"u8, "welcome");
                w.WriteString("node"u8, node);
                w.WriteString("connection"u8, Id);
                w.WriteNumber("window"u8, Window);
                w.WriteNumber("keep_alive_ms"u8, keepAliveMs);
            });
            using var stop = stopping.Register(() => _ = CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "node stopping"));
            await ReceiveLoopAsync();
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or HornbeamException)
        {
            _logger.LogInformation("Hook worker {Connection} disconnected: {Message}", Id, e.Message);
        }
        finally
        {
            _gone = true;
            // Callers first: they hear at once, while the hooks' leaving is announced through Redis.
            foreach (var call in _calls.Values)
                call.Fail(new HornbeamException(HornbeamError.BadGateway,
                    $"The worker serving hook '{call.AppPath}' (connection {Id}) disconnected during action '{call.Action}'; it may " +
                    "have run in part."));
            _calls.Clear();
            await _workers.RemoveAsync(this);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            buffer.Clear();
            ValueWebSocketReceiveResult received;
            do
            {
                received = await _socket.ReceiveAsync(buffer.GetMemory(4096), CancellationToken.None);
                buffer.Advance(received.Count);
                if (buffer.WrittenCount > _maxMessageBytes)
                {
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, $"a message may have at most {_maxMessageBytes} bytes");
                    return;
                }
            } while (!received.EndOfMessage);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                if (_socket.State == WebSocketState.CloseReceived) await CloseAsync(WebSocketCloseStatus.NormalClosure, "");
                return;
            }
            if (received.MessageType == WebSocketMessageType.Binary)
            {
                await SendProblemAsync(null, HornbeamError.InvalidInput, "Hook workers send JSON text frames, not binary frames.");
                continue;
            }
            await HandleAsync(buffer.WrittenMemory);
        }
    }

    private async Task HandleAsync(ReadOnlyMemory<byte> frame)
    {
        string? type, id;
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(frame);
            root = doc.RootElement.Clone();
            type = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString() : null;
            id = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String
                ? i.GetString() : null;
        }
        catch (JsonException e)
        {
            await SendProblemAsync(null, HornbeamError.InvalidInput, $"A frame is not JSON: {e.Message}");
            return;
        }
        switch (type)
        {
            case "register" or "unregister":
                var appPath = root.TryGetProperty("app_path", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "";
                // Off the receive loop: registering reads Redis, and pings are answered only while a receive is pending.
                _ = RegisterAsync(type == "register", appPath);
                return;
            case "result" or "error" or "chunk" or "done" when id is not null:
                // A reply to a call that ended (cancelled, or the caller gone) is dropped.
                if (_calls.TryGetValue(id, out var call) && !call.Deliver(type, root)) Forget(id);
                return;
            default:
                await SendProblemAsync(id, HornbeamError.InvalidInput,
                    $"Unknown message type '{type}' (or a reply without its call's id): a worker sends register, unregister, " +
                    "result, error, chunk or done.");
                return;
        }
    }

    private async Task RegisterAsync(bool register, string appPath)
    {
        await _registering.WaitAsync();
        try
        {
            HookNames.Validate(appPath);
            if (register) await _workers.RegisterAsync(this, appPath);
            else await _workers.UnregisterAsync(this, appPath);
            await SendAsync(w =>
            {
                w.WriteString("type"u8, register ? "registered" : "unregistered");
                w.WriteString("app_path"u8, appPath);
            });
        }
        catch (HornbeamException e)
        {
            await SendQuietlyAsync(w =>
            {
                w.WriteString("type"u8, "refused");
                w.WriteString("app_path"u8, appPath);
                WriteProblem(w, e.Error, e.Message);
            });
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException)
        {
            // The worker is gone; RunAsync removes what it had.
        }
        finally
        {
            _registering.Release();
        }
    }

    /// <summary>Runs the action on the worker and answers its result.</summary>
    public async Task<JsonElement> ExecuteAsync(string appPath, string action, HookArgs args, CancellationToken ct)
    {
        var call = new ExecuteCall(appPath, action);
        var id = Start(call);
        try
        {
            await SendCallAsync("execute", id, appPath, action, args);
            using var cancel = ct.Register(() => Cancel(id));
            return await call.Result.Task.WaitAsync(ct);
        }
        finally
        {
            Forget(id);
        }
    }

    /// <summary>The action's chunks as the worker sends them; the worker runs at most <see cref="Window"/> chunks ahead.</summary>
    public async IAsyncEnumerable<JsonElement> StreamAsync(string appPath, string action, HookArgs args,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var call = new StreamCall(appPath, action);
        var id = Start(call);
        var ended = false;
        try
        {
            await SendCallAsync("stream", id, appPath, action, args);
            var read = 0;
            while (true)
            {
                var item = await NextAsync(call, ct);
                if (item.Done)
                {
                    ended = true;
                    yield break;
                }
                yield return item.Data;
                // Credit after the caller asked for more, so the worker runs at most a window ahead of the reader.
                if (++read % (Window / 2) == 0)
                {
                    Interlocked.Add(ref call.Granted, Window / 2);
                    await SendQuietlyAsync(w =>
                    {
                        w.WriteString("type"u8, "credit");
                        w.WriteString("id"u8, id);
                        w.WriteNumber("chunks"u8, Window / 2);
                    });
                }
            }
        }
        finally
        {
            if (!ended) Cancel(id);
            Forget(id);
        }
    }

    private static async ValueTask<(bool Done, JsonElement Data)> NextAsync(StreamCall call, CancellationToken ct)
    {
        try
        {
            return await call.Items.Reader.ReadAsync(ct);
        }
        catch (ChannelClosedException e) when (e.InnerException is { } inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
            throw;
        }
    }

    private string Start(Call call)
    {
        if (_gone) throw call.Gone(Id);
        var id = "c" + Interlocked.Increment(ref _nextCall).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _calls[id] = call;
        if (_gone && _calls.TryRemove(id, out _)) throw call.Gone(Id);
        return id;
    }

    private void Forget(string id) => _calls.TryRemove(id, out _);

    private void Cancel(string id)
    {
        if (!_calls.TryRemove(id, out var call)) return;
        call.Fail(new OperationCanceledException("The caller went away."));
        _ = SendQuietlyAsync(w =>
        {
            w.WriteString("type"u8, "cancel");
            w.WriteString("id"u8, id);
        });
    }

    private async Task SendCallAsync(string type, string id, string appPath, string action, HookArgs args)
    {
        try
        {
            await SendAsync(w =>
            {
                w.WriteString("type"u8, type);
                w.WriteString("id"u8, id);
                w.WriteString("app_path"u8, appPath);
                w.WriteString("action"u8, action);
                w.WriteStartArray("args"u8);
                foreach (var arg in args.Args) arg.WriteTo(w);
                w.WriteEndArray();
                w.WriteStartObject("kwargs"u8);
                foreach (var (name, value) in args.Kwargs)
                {
                    w.WritePropertyName(name);
                    value.WriteTo(w);
                }
                w.WriteEndObject();
                if (type == "stream") w.WriteNumber("window"u8, Window);
            });
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Nothing reached the worker: the hook never ran there.
            throw new HornbeamException(HornbeamError.BadGateway,
                $"The worker serving hook '{appPath}' (connection {Id}) disconnected before action '{action}' reached it.");
        }
    }

    private Task SendProblemAsync(string? id, HornbeamError kind, string detail) => SendQuietlyAsync(w =>
    {
        w.WriteString("type"u8, "error");
        if (id is not null) w.WriteString("id"u8, id);
        WriteProblem(w, kind, detail);
    });

    private static void WriteProblem(Utf8JsonWriter w, HornbeamError kind, string detail)
    {
        w.WriteStartObject("error"u8);
        w.WriteString("type"u8, HornbeamErrors.Type(kind));
        w.WriteNumber("status"u8, HornbeamErrors.Status(kind));
        w.WriteString("detail"u8, detail);
        w.WriteEndObject();
    }

    private async Task SendQuietlyAsync(Action<Utf8JsonWriter> body)
    {
        try
        {
            await SendAsync(body);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection is ending; its receive loop fails what waits on it.
        }
    }

    private async Task SendAsync(Action<Utf8JsonWriter> body)
    {
        var frame = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(frame))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        await _send.WaitAsync();
        try
        {
            await _socket.SendAsync(frame.WrittenMemory, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _send.Release();
        }
    }

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        await _send.WaitAsync();
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var deadline = new CancellationTokenSource(CloseTimeout);
                await _socket.CloseOutputAsync(status, reason, deadline.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            _socket.Abort();
        }
        finally
        {
            _send.Release();
        }
        // A worker that does not answer the close frame is cut off.
        _ = Task.Delay(CloseTimeout).ContinueWith(_ =>
        {
            if (_socket.State != WebSocketState.Closed) _socket.Abort();
        }, TaskScheduler.Default);
    }

    /// <summary>A call waiting on the worker.</summary>
    private abstract class Call(string appPath, string action)
    {
        public string AppPath { get; } = appPath;
        public string Action { get; } = action;

        /// <summary>Takes one reply; false when the call is over (its last reply, or a broken promise by the worker).</summary>
        public abstract bool Deliver(string type, JsonElement message);

        public abstract void Fail(Exception e);

        public HornbeamException Gone(string connection) => new(HornbeamError.BadGateway,
            $"The worker serving hook '{AppPath}' (connection {connection}) disconnected before action '{Action}' reached it.");

        protected HornbeamException Error(JsonElement message)
        {
            var problem = message.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object ? e : default;
            var type = problem.ValueKind == JsonValueKind.Object && problem.TryGetProperty("type", out var t)
                       && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            var detail = problem.ValueKind == JsonValueKind.Object && problem.TryGetProperty("detail", out var d)
                         && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            var kind = HornbeamErrors.TryParse(type, out var k) ? k : HornbeamError.HandlerFailed;
            return new HornbeamException(kind, detail ?? $"Hook '{AppPath}' action '{Action}' failed.");
        }
    }

    private sealed class ExecuteCall(string appPath, string action) : Call(appPath, action)
    {
        public TaskCompletionSource<JsonElement> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool Deliver(string type, JsonElement message)
        {
            if (type == "result")
                Result.TrySetResult(message.TryGetProperty("result", out var r) ? r : JsonSerializer.SerializeToElement<object?>(null));
            else if (type == "error") Result.TrySetException(Error(message));
            else Result.TrySetException(new HornbeamException(HornbeamError.BadGateway,
                $"The worker serving hook '{AppPath}' answered action '{Action}' (an execute) with '{type}'."));
            return false;
        }

        public override void Fail(Exception e) => Result.TrySetException(e);
    }

    private sealed class StreamCall(string appPath, string action) : Call(appPath, action)
    {
        // Bounded by the credit the worker was given: one more chunk than that is a worker breaking the protocol.
        public Channel<(bool Done, JsonElement Data)> Items { get; } =
            Channel.CreateUnbounded<(bool, JsonElement)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        public long Granted = Window;
        private long _received;

        public override bool Deliver(string type, JsonElement message)
        {
            switch (type)
            {
                case "chunk" when ++_received > Interlocked.Read(ref Granted):
                    Fail(new HornbeamException(HornbeamError.BadGateway,
                        $"The worker serving hook '{AppPath}' sent more chunks of action '{Action}' than its credit allowed."));
                    return false;
                case "chunk":
                    var data = message.TryGetProperty("data", out var d) ? d : JsonSerializer.SerializeToElement<object?>(null);
                    Items.Writer.TryWrite((false, data));
                    return true;
                case "done":
                    Items.Writer.TryWrite((true, default));
                    Items.Writer.TryComplete();
                    return false;
                case "error":
                    Fail(Error(message));
                    return false;
                default:
                    Fail(new HornbeamException(HornbeamError.BadGateway,
                        $"The worker serving hook '{AppPath}' answered action '{Action}' (a stream) with '{type}'."));
                    return false;
            }
        }

        public override void Fail(Exception e) => Items.Writer.TryComplete(e);
    }
}
