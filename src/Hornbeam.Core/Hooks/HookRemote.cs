using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Hooks;

/// <summary>
/// Hooks on other nodes. Every C# hook registered at start-up is offered over RPC as function <c>{app_path}</c> of module
/// <c>hooks</c>, so presence advertises it; module <c>hornbeam_hooks</c> starts tasks and streams there. A remote stream's
/// chunks come back on a pub/sub channel, numbered, at most <see cref="Window"/> ahead of what the caller has read.
/// </summary>
internal sealed class HookRemote(IRpcClient rpc, IClusterPresence presence, NodeIdentity node, IConnectionMultiplexer redis,
    RedisChannels channels, RedisKeys keys, IOptions<ClusterOptions> cluster)
{
    public const string HooksModule = "hooks";
    public const string ControlModule = "hornbeam_hooks";

    /// <summary>Most chunks a producer sends before the caller acknowledges reading them.</summary>
    public const int Window = 64;

    private TimeSpan Timeout => TimeSpan.FromMilliseconds(cluster.Value.MaxRpcTimeoutMs);

    /// <summary>A live node other than this one that offers the hook; a random one, so callers spread over them.</summary>
    public string? Offering(string appPath)
    {
        var candidates = OfferingNodes(appPath);
        return candidates.Length == 0 ? null : candidates[Random.Shared.Next(candidates.Length)];
    }

    /// <summary>The live nodes other than this one that offer the hook (a C# hook, or a worker connected there).</summary>
    public string[] OfferingNodes(string appPath) => presence.KnownNodes
        .Where(n => n.Node != node.Name && n.Modules.TryGetValue(HooksModule, out var hooks) && hooks.Contains(appPath))
        .Select(n => n.Node).ToArray();

    /// <summary>Reads presence from Redis now; when Redis does not answer, the view stays as it was.</summary>
    public async Task RefreshAsync()
    {
        try
        {
            await presence.LiveNodesAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // The caller's next step (an HTTP hook's lookup) reports the outage.
        }
    }

    /// <summary>The hooks other live nodes offer, where, and whether a worker serves it there (else it is a C# hook).</summary>
    public async Task<IReadOnlyList<(string AppPath, string Node, bool Worker)>> AdvertisedAsync() =>
        (await presence.LiveNodesAsync()).Where(n => n.Node != node.Name)
        .SelectMany(n => n.Modules.TryGetValue(HooksModule, out var hooks)
            ? hooks.Select(h => (h, n.Node, n.Modules.TryGetValue(HookWorkers.WorkersModule, out var w) && w.Contains(h)))
            : [])
        .ToArray();

    public Task<JsonElement> ExecuteAsync(string target, string appPath, string action, HookArgs args, CancellationToken ct) =>
        CallAsync(target, HooksModule, appPath, [Json(action), Json(args.Args), Json(args.Kwargs)], ct);

    public async Task<string> StartTaskAsync(string target, string appPath, string action, HookArgs args) =>
        (await CallAsync(target, ControlModule, "start_task", [Json(appPath), Json(action), Json(args.Args), Json(args.Kwargs)],
            CancellationToken.None)).GetString()!;

    public async IAsyncEnumerable<JsonElement> StreamAsync(string target, string appPath, string action, HookArgs args,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var inbox = Channel.CreateUnbounded<StreamMessage>(new UnboundedChannelOptions { SingleReader = true });
        var subscriber = redis.GetSubscriber();
        // Subscribed before the producer starts, so no chunk is published to nobody.
        using var listening = await channels.ListenAsync(keys.HookStreamChunks(id), m =>
        {
            if (StreamMessage.Parse(m) is { } message) inbox.Writer.TryWrite(message);
        }, ct);
        var ended = false;
        try
        {
            await CallAsync(target, ControlModule, "start_stream",
                [Json(appPath), Json(action), Json(args.Args), Json(args.Kwargs), Json(id)], ct);
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

    private async Task<JsonElement> CallAsync(string target, string module, string function, IReadOnlyList<JsonElement> args,
        CancellationToken ct)
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
