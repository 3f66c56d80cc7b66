namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// A Sentinel-managed Redis on loopback: one master, its replicas and three Sentinels (quorum 2), each from its own
/// config file in a temp directory, tuned so that a failover completes within a few seconds. Data nodes keep an
/// append-only file, so a node restarted with its old config comes back with its old data, as a crashed server does.
/// </summary>
public sealed class LocalRedisSentinel : IDisposable
{
    public const string ServiceName = "hornbeam";
    private readonly string _directory;

    private LocalRedisSentinel(string directory, List<LocalRedisProcess> nodes, List<LocalRedisProcess> sentinels)
    {
        _directory = directory;
        Nodes = nodes;
        Sentinels = sentinels;
    }

    /// <summary>The data nodes; the first was the master at start.</summary>
    public IReadOnlyList<LocalRedisProcess> Nodes { get; }

    public IReadOnlyList<LocalRedisProcess> Sentinels { get; }

    /// <summary>What a client is given: the Sentinels and the service name, never a data node.</summary>
    public string ConnectionString => string.Join(",", Sentinels.Select(s => s.ConnectionString)) + $",serviceName={ServiceName}";

    public static async Task<LocalRedisSentinel> StartAsync(int replicas = 2, int sentinels = 3)
    {
        var directory = Path.Combine(Path.GetTempPath(), "hornbeam-sentinel-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var nodes = new List<LocalRedisProcess>();
        var sentinelNodes = new List<LocalRedisProcess>();
        var topology = new LocalRedisSentinel(directory, nodes, sentinelNodes);
        try
        {
            var masterPort = LocalRedisProcess.FreePort();
            for (var i = 0; i <= replicas; i++)
            {
                var port = i == 0 ? masterPort : LocalRedisProcess.FreePort();
                var dir = Path.Combine(directory, $"node-{port}");
                Directory.CreateDirectory(dir);
                var config = Path.Combine(dir, "redis.conf");
                await File.WriteAllTextAsync(config, $"""
                    port {port}
                    bind 127.0.0.1
                    protected-mode no
                    dir {dir}
                    save ""
                    appendonly yes
                    appendfsync everysec
                    repl-diskless-sync yes
                    repl-diskless-sync-delay 0
                    {(i == 0 ? "" : $"replicaof 127.0.0.1 {masterPort}")}

                    """);
                nodes.Add(await LocalRedisProcess.StartWithConfigFileAsync(port, config));
            }
            for (var i = 0; i < sentinels; i++)
            {
                var port = LocalRedisProcess.FreePort();
                var config = Path.Combine(directory, $"sentinel-{port}.conf");
                // down-after: a dead master is noticed after a second; failover-timeout also spaces retries of a failed election.
                await File.WriteAllTextAsync(config, $"""
                    port {port}
                    bind 127.0.0.1
                    protected-mode no
                    dir {directory}
                    sentinel monitor {ServiceName} 127.0.0.1 {masterPort} 2
                    sentinel down-after-milliseconds {ServiceName} 1000
                    sentinel failover-timeout {ServiceName} 4000
                    sentinel parallel-syncs {ServiceName} 2

                    """);
                sentinelNodes.Add(await LocalRedisProcess.StartWithConfigFileAsync(port, config, "--sentinel"));
            }
            // Sentinel demotes a restarted old master once it has reported itself master for four hello periods (2 s each)
            // and it reads INFO every 10 s, so the demotion comes 8 to 18 s after the restart. Shorter periods keep the same
            // sequence of events (the old master still takes writes as master for a while) in a fraction of the time.
            // SENTINEL DEBUG exists since Redis 7.0; without it the tests only wait longer.
            foreach (var sentinel in sentinelNodes)
                await Resp.TryCommandAsync(sentinel.Port, "SENTINEL", "DEBUG", "info-period", "1000", "publish-period", "500");
            await topology.WaitUntilStableAsync(nodes[0], TimeSpan.FromSeconds(30));
            return topology;
        }
        catch
        {
            topology.Dispose();
            throw;
        }
    }

    /// <summary>The data node every Sentinel names as master now, or null while they disagree or cannot be asked.</summary>
    public async Task<LocalRedisProcess?> AgreedMasterAsync()
    {
        int? agreed = null;
        foreach (var sentinel in Sentinels)
        {
            var reply = await Resp.TryCommandAsync(sentinel.Port, "SENTINEL", "get-master-addr-by-name", ServiceName);
            if (reply?.Split('\n') is not [_, var port]) return null;
            if (agreed is not null && agreed != int.Parse(port)) return null;
            agreed = int.Parse(port);
        }
        return Nodes.SingleOrDefault(n => n.Port == agreed);
    }

    /// <summary>
    /// Waits until <paramref name="master"/> is master with every other running node replicating from it in sync, and every
    /// Sentinel agrees, knows every replica and every other Sentinel: a failover is possible from then on.
    /// </summary>
    public Task WaitUntilStableAsync(LocalRedisProcess master, TimeSpan timeout) =>
        Poll.UntilAsync(async () =>
        {
            if (await AgreedMasterAsync() != master || await RoleAsync(master) != "master") return false;
            var replicas = Nodes.Where(n => n != master && n.Pid is not null).ToList();
            foreach (var replica in replicas)
            {
                var info = await Resp.TryCommandAsync(replica.Port, "INFO", "replication");
                if (info is null || !info.Contains($"master_port:{master.Port}") || !info.Contains("master_link_status:up")) return false;
            }
            foreach (var sentinel in Sentinels)
            {
                var state = await Resp.TryCommandAsync(sentinel.Port, "SENTINEL", "master", ServiceName);
                var fields = Fields(state);
                if (fields.GetValueOrDefault("num-slaves") != replicas.Count.ToString() ||
                    fields.GetValueOrDefault("num-other-sentinels") != (Sentinels.Count - 1).ToString() ||
                    fields.GetValueOrDefault("flags") != "master") return false;
            }
            return true;
        }, timeout, $"Sentinel agrees on master {master.Port} with its replicas in sync");

    /// <summary>
    /// Waits until the Sentinels have promoted a node other than <paramref name="oldMaster"/> and it acts as master; answers it.
    /// </summary>
    public async Task<LocalRedisProcess> WaitForPromotionAsync(LocalRedisProcess oldMaster, TimeSpan timeout)
    {
        LocalRedisProcess? promoted = null;
        await Poll.UntilAsync(async () =>
        {
            promoted = await AgreedMasterAsync();
            return promoted is not null && promoted != oldMaster && await RoleAsync(promoted) == "master";
        }, timeout, $"Sentinel promotes a replica of {oldMaster.Port}");
        return promoted!;
    }

    /// <summary>Each data node's port, role and (for a replica) the master it follows and its link, for a test's output.</summary>
    public async Task<string> DescribeAsync()
    {
        var parts = new List<string>();
        foreach (var node in Nodes)
        {
            var role = (await Resp.TryCommandAsync(node.Port, "ROLE"))?.Split('\n');
            parts.Add(role switch
            {
                null => $"{node.Port}: down",
                ["slave", _, var master, var state, ..] => $"{node.Port}: replica of {master} ({state})",
                [var name, ..] => $"{node.Port}: {name}",
                _ => $"{node.Port}: ?",
            });
        }
        return string.Join("; ", parts);
    }

    /// <summary>The role a data node reports (<c>master</c>, <c>slave</c>), or null when it does not answer.</summary>
    public static async Task<string?> RoleAsync(LocalRedisProcess node) =>
        (await Resp.TryCommandAsync(node.Port, "ROLE"))?.Split('\n')[0];

    // SENTINEL MASTER answers name, value, name, value...; flattened one per line.
    private static Dictionary<string, string> Fields(string? reply)
    {
        var parts = reply?.Split('\n') ?? [];
        var fields = new Dictionary<string, string>();
        for (var i = 0; i + 1 < parts.Length; i += 2) fields[parts[i]] = parts[i + 1];
        return fields;
    }

    public void Dispose()
    {
        foreach (var sentinel in Sentinels) sentinel.Dispose();
        foreach (var node in Nodes) node.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
