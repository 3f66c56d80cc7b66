using System.Text.Json;
using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Cluster;

/// <summary>Which nodes are live (the seed's <c>nodes()</c>), from presence in Redis.</summary>
public interface IClusterPresence
{
    /// <summary>Every live node, this one included, read from Redis now.</summary>
    Task<IReadOnlyList<NodeInfo>> LiveNodesAsync();

    /// <summary>Live nodes as of the last heartbeat or join: cheap, for choosing a target.</summary>
    IReadOnlyCollection<NodeInfo> KnownNodes { get; }

    /// <summary>Whether <paramref name="node"/> is live: from memory when known, else asked of Redis.</summary>
    ValueTask<bool> IsLiveAsync(string node);

    /// <summary>Raised with the name of a node found gone without leaving (its heartbeat lapsed).</summary>
    event Action<string>? NodeLost;

    /// <summary>When this node last renewed its presence in Redis; null before its first heartbeat.</summary>
    DateTimeOffset? LastHeartbeat { get; }

    /// <summary>Whether this node's presence is still current: other nodes see it live and route calls to it.</summary>
    bool IsPresenceCurrent { get; }
}

/// <summary>
/// Heartbeats this node into a sorted set scored by expiry (ms), with its info in a hash, prunes nodes whose heartbeat
/// lapsed (and deletes their request streams), and leaves at once on a clean shutdown.
/// </summary>
internal sealed class ClusterPresence(
    IConnectionMultiplexer redis, RedisChannels channels, RedisKeys keys, NodeIdentity node, RpcModules modules,
    IOptions<ClusterOptions> options, ILogger<ClusterPresence> logger) : IClusterPresence, IHostedService
{
    private readonly ClusterOptions _options = options.Value;
    private readonly BackgroundWork _work = new(logger);
    private volatile Dictionary<string, NodeInfo> _known = new(StringComparer.Ordinal);

    public event Action<string>? NodeLost;

    public IReadOnlyCollection<NodeInfo> KnownNodes
    {
        get
        {
            var now = DateTimeOffset.UtcNow;
            return _known.Values.Where(n => n.ExpiresAt >= now).ToArray();
        }
    }

    private IDatabase Db => redis.GetDatabase();

    private KeptSubscription? _events;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Joining before serving: peers can call this node as soon as they see it.
        _events = channels.Keep(keys.ClusterEvents, OnEvent, $"cluster events (node {node.Name})");
        await _events.EnsureAsync();
        await WarnIfNameTakenAsync();
        if (await TryHeartbeatAsync()) await AnnounceAsync("join", node.Name);
        _work.Start($"The heartbeat of node {node.Name}", HeartbeatLoopAsync);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _work.StopAsync(cancellationToken);
        try
        {
            await Db.ScriptEvaluateAsync(RedisScripts.ClusterLeave, [keys.ClusterNodes, keys.ClusterNodeInfo], [node.Name])
                .WaitAsync(cancellationToken);
            await AnnounceAsync("leave", node.Name);
        }
        catch (Exception e) when (e is RedisException or OperationCanceledException or TimeoutException or ObjectDisposedException)
        {
            logger.LogWarning("Node {Node} could not leave the cluster cleanly ({Message}); peers drop it when its presence expires.",
                node.Name, e.Message);
        }
    }

    public async Task<IReadOnlyList<NodeInfo>> LiveNodesAsync()
    {
        var result = await Db.ScriptEvaluateAsync(RedisScripts.ClusterLiveNodes, [keys.ClusterNodes, keys.ClusterNodeInfo],
            [DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()]);
        var live = ParseNodes((RedisResult[])result!);
        Remember(live);
        return live;
    }

    public async ValueTask<bool> IsLiveAsync(string name)
    {
        var now = DateTimeOffset.UtcNow;
        if (_known.TryGetValue(name, out var known) && known.ExpiresAt >= now) return true;
        var expiry = await Db.SortedSetScoreAsync(keys.ClusterNodes, name);
        if (expiry is null || expiry < now.ToUnixTimeMilliseconds()) return false;
        _ = RefreshQuietlyAsync();
        return true;
    }

    // Two live processes with one name would share one request stream and one presence entry: say so loudly.
    private async Task WarnIfNameTakenAsync()
    {
        try
        {
            var expiry = await Db.SortedSetScoreAsync(keys.ClusterNodes, node.Name);
            if (expiry is null || expiry < DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) return;
            logger.LogWarning("Node name {Node} is already live in the cluster (another process, or this one restarted within " +
                "Hornbeam:Cluster:NodeExpiry); give each process its own Hornbeam:NodeName.", node.Name);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct)) await TryHeartbeatAsync();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Heartbeats now and tells the other nodes to read presence again: what this node offers changed (a hook worker came or
    /// went), and waiting for the next heartbeat would leave them routing to the old offer.
    /// </summary>
    internal async Task AdvertiseNowAsync()
    {
        try
        {
            if (await TryHeartbeatAsync()) await AnnounceAsync("join", node.Name);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            logger.LogDebug("Announcing node {Node}'s new offer failed ({Message}); its next heartbeat carries it.", node.Name, e.Message);
        }
    }

    /// <summary>When this node last renewed its presence in Redis.</summary>
    public DateTimeOffset? LastHeartbeat { get; private set; }

    /// <summary>Whether other nodes still see this one: its last heartbeat has not expired.</summary>
    public bool IsPresenceCurrent => LastHeartbeat is { } last && last + _options.NodeExpiry > DateTimeOffset.UtcNow;

    private async Task<bool> TryHeartbeatAsync()
    {
        try
        {
            var now = DateTimeOffset.UtcNow;
            var info = JsonSerializer.Serialize(modules.Describe(now));
            var result = (RedisResult[])(await Db.ScriptEvaluateAsync(RedisScripts.ClusterHeartbeat,
                [keys.ClusterNodes, keys.ClusterNodeInfo],
                [node.Name, (now + _options.NodeExpiry).ToUnixTimeMilliseconds(), info, now.ToUnixTimeMilliseconds()]))!;
            Remember(ParseNodes((RedisResult[])result[1]!));
            LastHeartbeat = now;
            foreach (var dead in (string[])result[0]!) await ForgetAsync(dead);
            return true;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning("Heartbeat of node {Node} failed: {Message}", node.Name, e.Message);
            return false;
        }
    }

    // Only the one node whose heartbeat pruned a dead node gets here for it, so its stream is retired once: deleted when
    // empty, else kept for a while for a node restarted with the same name (casts answered 202 wait there).
    private async Task ForgetAsync(string dead)
    {
        var left = (long)await Db.ScriptEvaluateAsync(RedisScripts.RpcRetire, [keys.RpcRequests(dead)],
            [(long)_options.OrphanedRequestRetention.TotalMilliseconds]);
        if (left == 0) logger.LogInformation("Node {Node} stopped heartbeating; removed it and its request stream.", dead);
        else logger.LogWarning("Node {Node} stopped heartbeating with {Count} request(s) unfinished; a node started with the same name " +
            "within {Retention} takes them.",
            dead, left, _options.OrphanedRequestRetention);
        await AnnounceAsync("lost", dead);
    }

    private Task AnnounceAsync(string kind, string name) =>
        redis.GetSubscriber().PublishAsync(keys.ClusterEvents,
            JsonSerializer.Serialize(new Dictionary<string, string> { ["event"] = kind, ["node"] = name }));

    private void OnEvent(RedisValue message)
    {
        string? kind, name;
        try
        {
            using var doc = JsonDocument.Parse((string)message!);
            kind = doc.RootElement.GetProperty("event").GetString();
            name = doc.RootElement.GetProperty("node").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            logger.LogWarning("Ignoring a malformed cluster event: {Message}", (string?)message);
            return;
        }
        if (name is null || name == node.Name) return;
        if (kind == "join") _ = RefreshQuietlyAsync();
        else if (kind is "leave" or "lost")
        {
            var next = new Dictionary<string, NodeInfo>(_known, StringComparer.Ordinal);
            if (next.Remove(name)) _known = next;
            if (kind == "lost") NodeLost?.Invoke(name);
        }
    }

    private async Task RefreshQuietlyAsync()
    {
        try
        {
            await LiveNodesAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogDebug("Refreshing live nodes failed: {Message}", e.Message);
        }
    }

    private void Remember(IReadOnlyList<NodeInfo> live) => _known = live.ToDictionary(n => n.Node, StringComparer.Ordinal);

    private List<NodeInfo> ParseNodes(RedisResult[] flat)
    {
        var nodes = new List<NodeInfo>(flat.Length / 3);
        for (var i = 0; i + 2 < flat.Length; i += 3)
        {
            var name = (string)flat[i]!;
            var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds((long)(double)flat[i + 1]);
            var json = (string?)flat[i + 2];
            NodeInfo? info = null;
            if (!string.IsNullOrEmpty(json))
            {
                try
                {
                    info = JsonSerializer.Deserialize<NodeInfo>(json);
                }
                catch (JsonException)
                {
                    logger.LogWarning("Node {Node} advertises info that is not valid JSON; listing it without details.", name);
                }
            }
            info ??= new NodeInfo(name, default, default, new Dictionary<string, IReadOnlyList<string>>(), []);
            nodes.Add(info with { Node = name, ExpiresAt = expiresAt });
        }
        return nodes;
    }
}
