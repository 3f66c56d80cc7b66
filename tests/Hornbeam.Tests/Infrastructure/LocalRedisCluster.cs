using System.Diagnostics;
using StackExchange.Redis;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// A Redis Cluster from Debian's redis-server on loopback ports: masters (and optional replicas) created with
/// <c>redis-cli --cluster create</c>, removed on dispose.
/// </summary>
public sealed class LocalRedisCluster : IDisposable
{
    private readonly string _directory;

    private LocalRedisCluster(string directory, List<LocalRedisProcess> nodes)
    {
        _directory = directory;
        Nodes = nodes;
    }

    public IReadOnlyList<LocalRedisProcess> Nodes { get; }

    public string ConnectionString => string.Join(",", Nodes.Select(n => n.ConnectionString));

    public static async Task<LocalRedisCluster> StartAsync(int masters = 3, int replicasPerMaster = 0)
    {
        var directory = Path.Combine(Path.GetTempPath(), "hornbeam-cluster-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        // The nodes start side by side: each start waits for its process to answer, and one after another that adds up.
        var nodes = (await Task.WhenAll(Enumerable.Range(0, masters * (1 + replicasPerMaster)).Select(async _ =>
        {
            var port = LocalRedisProcess.FreePort();
            return await LocalRedisProcess.StartAsync(port, "--cluster-enabled", "yes",
                "--cluster-config-file", Path.Combine(directory, $"nodes-{port}.conf"),
                "--cluster-node-timeout", "1500", "--dir", directory);
        }))).ToList();
        var cluster = new LocalRedisCluster(directory, nodes);
        try
        {
            await RunRedisCliAsync(
            [
                "--cluster", "create", .. nodes.Select(n => n.ConnectionString),
                "--cluster-replicas", replicasPerMaster.ToString(), "--cluster-yes",
            ]);
            await cluster.WaitUntilHealthyAsync();
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Waits until every live node reports the cluster ok and all slots served.</summary>
    public async Task WaitUntilHealthyAsync(TimeSpan? timeout = null)
    {
        await using var probe = await ConnectionMultiplexer.ConnectAsync(
            ConnectionString + ",connectTimeout=1000,abortConnect=false,allowAdmin=true");
        await Poll.UntilAsync(async () =>
        {
            foreach (var server in probe.GetServers().Where(s => s.IsConnected))
            {
                var info = (string?)await server.ExecuteAsync("CLUSTER", "INFO");
                if (info is null || !info.Contains("cluster_state:ok")) return false;
            }
            return true;
        }, timeout ?? TimeSpan.FromSeconds(30), "the Redis Cluster is ok");
    }

    private static async Task RunRedisCliAsync(string[] arguments)
    {
        var start = new ProcessStartInfo("redis-cli")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"redis-cli {string.Join(' ', arguments)} failed: {output}{error}");
    }

    public void Dispose()
    {
        foreach (var node in Nodes) node.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
