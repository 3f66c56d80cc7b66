using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Hooks;

/// <summary>
/// Hooks on other nodes. Every C# hook registered at start-up is offered over RPC as function <c>{app_path}</c> of module
/// <c>hooks</c>, so presence advertises it; module <c>hornbeam_hooks</c> starts tasks and streams there. A remote stream's
/// chunks come back on a pub/sub channel, numbered, at most <see cref="Window"/> ahead of what the caller has read.
/// </summary>
internal sealed class HookRemote(IRpcClient rpc, IClusterPresence presence, NodeIdentity node, RedisConnection connection, RedisKeys keys,
    IOptions<ClusterOptions> cluster)
{
    public const string HooksModule = "hooks";
    public const string ControlModule = "hornbeam_hooks";

    /// <summary>Most chunks a producer sends before the caller acknowledges reading them.</summary>
    public const int Window = 64;

    private IConnectionMultiplexer Redis => connection.Multiplexer;

    private TimeSpan Timeout => TimeSpan.FromMilliseconds(cluster.Value.MaxRpcTimeoutMs);

    /// <summary>A live node other than this one that offers the hook; a random one, so callers spread over them.</summary>
    public string? Offering(string appPath)
    {
        var candidates = presence.KnownNodes
            .Where(n => n.Node != node.Name && n.Modules.TryGetValue(HooksModule, out var hooks) && hooks.Contains(appPath))
            .Select(n => n.Node).ToArray();
        return candidates.Length == 0 ? null : candidates[Random.Shared.Next(candidates.Length)];
    }

    /// <summary>The hooks other live nodes offer, and where.</summary>
    public async Task<IReadOnlyList<(string AppPath, string Node)>> AdvertisedAsync() =>
        (await presence.LiveNodesAsync()).Where(n => n.Node != node.Name)
        .SelectMany(n => n.Modules.TryGetValue(HooksModule, out var hooks) ? hooks.Select(h => (h, n.Node)) : [])
        .ToArray();

    public Task<JsonElement> ExecuteAsync(string target, string appPath, string action, HookArgs args, CancellationToken ct) =>
        CallAsync(target, HooksModule, appPath, [Json(action), Json(args.Args), Json(args.Kwargs)], ct);

    public async Task<string> StartTaskAsync(string target, string appPath, string action, HookArgs args) =>
        (await CallAsync(target, ControlModule, "start_task", [Json(appPath), Json(action), Json(args.Args), Json(args.Kwargs)], CancellationToken.None)).GetString()!;

    public async IAsyncEnumerable<JsonElement> StreamAsync(string target, string appPath, string action, HookArgs args,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var inbox = Channel.CreateUnbounded<StreamMessage>(new UnboundedChannelOptions { SingleReader = true });
        var subscriber = Redis.GetSubscriber();
        var chunks = keys.HookStreamChunks(id);
        Action<RedisChannel, RedisValue> onMessage = (_, m) =>
        {
            if (StreamMessage.Parse(m) is { } message) inbox.Writer.TryWrite(message);
        };
        // Subscribed before the producer starts, so no chunk is published to nobody.
        await subscriber.SubscribeAsync(chunks, onMessage).WaitAsync(ct);
        var ended = false;
        try
        {
            await CallAsync(target, ControlModule, "start_stream", [Json(appPath), Json(action), Json(args.Args), Json(args.Kwargs), Json(id)], ct);
            var early = new SortedDictionary<long, StreamMessage>();
            long expected = 0;
            while (true)
            {
                if (!early.Remove(expected, out var message))
                {
                    message = await NextAsync(inbox, target, appPath, ct);
                    if (message.Seq != expected)
                    {
                        if (message.Seq > expected) early[message.Seq] = message;
                        continue;
                    }
                }
                expected++;
                if (message.Kind == "done")
                {
                    ended = true;
                    yield break;
                }
                if (message.Kind == "error")
                {
                    ended = true;
                    throw new HornbeamException(message.ErrorKind, message.Message ?? "The stream failed.");
                }
                yield return message.Data;
                // Acknowledged after the caller asked for more: the producer runs at most a window ahead of the reader.
                if (expected % (Window / 2) == 0) await subscriber.PublishAsync(keys.HookStreamControl(id), expected);
            }
        }
        finally
        {
            try
            {
                if (!ended) await subscriber.PublishAsync(keys.HookStreamControl(id), "cancel");
                await subscriber.UnsubscribeAsync(chunks, onMessage);
            }
            catch (Exception e) when (e is RedisException or ObjectDisposedException)
            {
                // The producer stops by itself when no acknowledgement comes.
            }
        }
    }

    private async Task<StreamMessage> NextAsync(Channel<StreamMessage> inbox, string target, string appPath, CancellationToken ct)
    {
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
            idle.CancelAfter(cluster.Value.NodeExpiry);
            try
            {
                return await inbox.Reader.ReadAsync(idle.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // Quiet is fine while the producing node lives; a slow hook may take long between chunks.
                if (!await presence.IsLiveAsync(target))
                    throw new HornbeamException(HornbeamError.BadGateway, $"Node '{target}' stopped while streaming hook '{appPath}'.");
            }
        }
    }

    private async Task<JsonElement> CallAsync(string target, string module, string function, IReadOnlyList<JsonElement> args, CancellationToken ct)
    {
        try
        {
            return await rpc.CallAsync(target, module, function, args, Timeout, ct);
        }
        catch (RpcFailedException e)
        {
            // Where the hook ran is the cluster's business; to the caller it is the hook that failed.
            throw new HornbeamException(HornbeamError.HandlerFailed, e.Reason);
        }
    }

    private static JsonElement Json<T>(T value) => JsonSerializer.SerializeToElement(value);
}

/// <summary>The RPC side of <see cref="HookRemote"/>: what this node runs when another node asks.</summary>
internal sealed class HookRpcHandlers(Hooks hooks, RedisConnection connection, RedisKeys keys, IHostApplicationLifetime lifetime, ILogger<HookRpcHandlers> logger)
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(30);

    private IConnectionMultiplexer Redis => connection.Multiplexer;

    public Task<JsonElement> ExecuteAsync(string appPath, IReadOnlyList<JsonElement> a, CancellationToken ct) =>
        hooks.ExecuteHereAsync(appPath, Str(a, 0, "action"), Args(a, 1), ct);

    public async Task<JsonElement> StartTaskAsync(IReadOnlyList<JsonElement> a, CancellationToken ct) =>
        JsonSerializer.SerializeToElement(await hooks.StartTaskHereAsync(Str(a, 0, "app_path"), Str(a, 1, "action"), Args(a, 2)));

    public async Task<JsonElement> StartStreamAsync(IReadOnlyList<JsonElement> a, CancellationToken ct)
    {
        var (appPath, action, args, id) = (Str(a, 0, "app_path"), Str(a, 1, "action"), Args(a, 2), Str(a, 4, "stream id"));
        var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        var acked = 0L;
        var wake = new SemaphoreSlim(0);
        Action<RedisChannel, RedisValue> onControl = (_, m) =>
        {
            if (m == "cancel") stop.Cancel();
            else if (long.TryParse(m.ToString(), out var n))
            {
                long seen;
                while ((seen = Interlocked.Read(ref acked)) < n && Interlocked.CompareExchange(ref acked, n, seen) != seen) { }
                wake.Release();
            }
        };
        var control = keys.HookStreamControl(id);
        await Redis.GetSubscriber().SubscribeAsync(control, onControl);
        _ = Task.Run(async () =>
        {
            try
            {
                await ProduceAsync(appPath, action, args, id, () => Interlocked.Read(ref acked), wake, stop.Token);
            }
            finally
            {
                try
                {
                    await Redis.GetSubscriber().UnsubscribeAsync(control, onControl);
                }
                catch (Exception e) when (e is RedisException or ObjectDisposedException)
                {
                }
                stop.Dispose();
                wake.Dispose();
            }
        }, CancellationToken.None);
        return JsonSerializer.SerializeToElement("started");
    }

    private async Task ProduceAsync(string appPath, string action, HookArgs args, string id, Func<long> acked, SemaphoreSlim wake, CancellationToken ct)
    {
        var channel = keys.HookStreamChunks(id);
        var subscriber = Redis.GetSubscriber();
        long seq = 0;
        try
        {
            await foreach (var chunk in hooks.StreamHereAsync(appPath, action, args, ct))
            {
                while (seq - acked() >= HookRemote.Window)
                    if (!await wake.WaitAsync(AckTimeout, ct))
                    {
                        logger.LogWarning("Stream {StreamId} of hook {AppPath}: the caller stopped reading; stopping the handler.", id, appPath);
                        return;
                    }
                await subscriber.PublishAsync(channel, StreamMessage.Chunk(seq++, chunk));
            }
            await subscriber.PublishAsync(channel, StreamMessage.Done(seq));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The caller went away (or this node stops): nobody is left to tell.
        }
        catch (Exception e) when (e is not RedisException and not ObjectDisposedException)
        {
            var kind = e is HornbeamException h ? h.Error : HornbeamError.HandlerFailed;
            var message = e is HornbeamException ? e.Message : $"Hook '{appPath}' action '{action}' failed: {e.Message}";
            await subscriber.PublishAsync(channel, StreamMessage.Fail(seq, kind, message));
        }
    }

    private static string Str(IReadOnlyList<JsonElement> a, int i, string what) =>
        a.Count > i && a[i].ValueKind == JsonValueKind.String ? a[i].GetString()! :
        throw new HornbeamException(HornbeamError.InvalidInput, $"argument {i} ({what}) must be a string.");

    private static HookArgs Args(IReadOnlyList<JsonElement> a, int i) => new(
        a.Count > i && a[i].ValueKind == JsonValueKind.Array ? a[i].EnumerateArray().Select(e => e.Clone()).ToArray() : [],
        a.Count > i + 1 && a[i + 1].ValueKind == JsonValueKind.Object
            ? a[i + 1].EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone())
            : new Dictionary<string, JsonElement>());
}

/// <summary>
/// One message of a relayed stream: <c>{"seq", "kind": "chunk"|"done"|"error", "data"?, "type"?, "error"?, "message"?}</c>.
/// An error carries its kind as <c>type</c> (<see cref="HornbeamErrors.Type"/>, as every wire does) and, for callers not yet
/// upgraded, as <c>error</c> (the enum name older nodes wrote).
/// </summary>
internal sealed record StreamMessage(long Seq, string Kind, JsonElement Data, string? Type, string? Error, string? Message)
{
    public static byte[] Chunk(long seq, JsonElement data) => Write(seq, "chunk", w =>
    {
        w.WritePropertyName("data");
        data.WriteTo(w);
    });

    public static byte[] Done(long seq) => Write(seq, "done", _ => { });

    public static byte[] Fail(long seq, HornbeamError kind, string message) => Write(seq, "error", w =>
    {
        w.WriteString("type", HornbeamErrors.Type(kind));
        w.WriteString("error", kind.ToString());
        w.WriteString("message", message);
    });

    /// <summary>An error message's kind: its <c>type</c>, else (an older node) its enum name, else handler-failed.</summary>
    public HornbeamError ErrorKind =>
        HornbeamErrors.TryParse(Type, out var kind) ? kind
        : Enum.TryParse<HornbeamError>(Error, out var old) ? old
        : HornbeamError.HandlerFailed;

    private static byte[] Write(long seq, string kind, Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", seq);
            w.WriteString("kind", kind);
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static StreamMessage? Parse(RedisValue value)
    {
        try
        {
            using var doc = JsonDocument.Parse((byte[])value!);
            var root = doc.RootElement;
            return new StreamMessage(root.GetProperty("seq").GetInt64(), root.GetProperty("kind").GetString()!,
                root.TryGetProperty("data", out var data) ? data.Clone() : default,
                root.TryGetProperty("type", out var type) ? type.GetString() : null,
                root.TryGetProperty("error", out var error) ? error.GetString() : null,
                root.TryGetProperty("message", out var message) ? message.GetString() : null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}
