using System.Diagnostics;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Deployment;

/// <summary>
/// deploy/local.sh's topology — redis-server, three API replicas as separate processes, nginx in front — started on
/// free loopback ports for one test class and stopped afterwards.
/// </summary>
public sealed class LocalTopology : IAsyncLifetime
{
    public const string ApiKey = "e2e-key";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hornbeam-e2e-" + Guid.NewGuid().ToString("N")[..8]);
    private Dictionary<string, string> _environment = null!;

    public int BalancerPort { get; private set; }

    public int ApiPortBase { get; private set; }

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        BalancerPort = LocalRedisProcess.FreePort();
        ApiPortBase = FreePortRun(3);
        _environment = new()
        {
            ["HORNBEAM_LOCAL_DIR"] = _dir,
            ["HORNBEAM_LB_PORT"] = BalancerPort.ToString(),
            ["HORNBEAM_REDIS_PORT"] = LocalRedisProcess.FreePort().ToString(),
            ["HORNBEAM_API_PORT_BASE"] = ApiPortBase.ToString(),
            ["HORNBEAM_API_KEY"] = ApiKey,
            ["HORNBEAM_API_DLL"] = ApiDll(),
        };
        await RunAsync("start", TimeSpan.FromSeconds(180));
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{BalancerPort}") };
        Client.DefaultRequestHeaders.Add("X-Api-Key", ApiKey);
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        await RunAsync("stop", TimeSpan.FromSeconds(30));
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public Task KillReplicaAsync(int replica) => RunAsync($"kill {replica}", TimeSpan.FromSeconds(10));

    public Task RestartReplicaAsync(int replica) => RunAsync($"restart-replica {replica}", TimeSpan.FromSeconds(60));

    public HttpClient ReplicaClient(int replica)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ApiPortBase + replica}") };
        client.DefaultRequestHeaders.Add("X-Api-Key", ApiKey);
        return client;
    }

    private async Task RunAsync(string arguments, TimeSpan timeout)
    {
        var script = Path.Combine(RepositoryRoot.Path, "deploy", "local.sh");
        var start = new ProcessStartInfo("bash", $"{script} {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in _environment) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"deploy/local.sh {arguments} failed ({process.ExitCode}): {await output}{await error}" +
                                                (arguments == "start" ? Logs() : ""));
    }

    private string Logs() => string.Join("\n", Directory.Exists(_dir)
        ? Directory.GetFiles(_dir, "*.log").Select(f => $"--- {Path.GetFileName(f)}\n{File.ReadAllText(f)}")
        : []);

    // A base port whose next `count` ports are all free: replica i listens on base + i.
    private static int FreePortRun(int count)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var candidate = Random.Shared.Next(20000, 60000);
            var listeners = new List<System.Net.Sockets.TcpListener>();
            try
            {
                for (var i = 1; i <= count; i++)
                {
                    var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, candidate + i);
                    listener.Start();
                    listeners.Add(listener);
                }
                return candidate;
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
            finally
            {
                foreach (var listener in listeners) listener.Stop();
            }
        }
        throw new InvalidOperationException("No run of free loopback ports found.");
    }

    // The API build that sits beside this test build (same configuration), run as its own process.
    private static string ApiDll()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}")
            ? "Release"
            : "Debug";
        var dll = Path.Combine(RepositoryRoot.Path, "src", "Hornbeam.Api", "bin", configuration, "net10.0", "Hornbeam.Api.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the API first (dotnet build).", dll);
    }
}
