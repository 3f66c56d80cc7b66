using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;
using Testcontainers.Redis;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// The one real Redis the whole test run shares: <c>HORNBEAM_TEST_REDIS</c> when set; else a Testcontainers Redis when a
/// Docker engine is reachable; else a <c>redis-server</c> from PATH on a free loopback port. Tests isolate themselves by key prefix.
/// </summary>
public static class RedisServer
{
    private static readonly Lazy<Task<string>> Shared = new(StartAsync);

    /// <summary>The connection string of the shared server, started on first use.</summary>
    public static Task<string> ConnectionStringAsync() => Shared.Value;

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("HORNBEAM_TEST_REDIS") is { Length: > 0 } configured) return configured;
        if (IsClusterMode)
        {
            var cluster = await LocalRedisCluster.StartAsync();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Dispose();
            return cluster.ConnectionString;
        }
        if (DockerIsReachable())
        {
            var container = new RedisBuilder("redis:7.0").Build();
            await container.StartAsync();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => container.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return container.GetConnectionString();
        }
        var server = await LocalRedisProcess.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        return server.ConnectionString;
    }

    /// <summary><c>HORNBEAM_TEST_REDIS_MODE=cluster</c>: the shared server is a three-master Redis Cluster on loopback.</summary>
    public static bool IsClusterMode => Environment.GetEnvironmentVariable("HORNBEAM_TEST_REDIS_MODE") == "cluster";

    private static bool DockerIsReachable()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (host is { Length: > 0 }) return true;
        if (!File.Exists("/var/run/docker.sock")) return false;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint("/var/run/docker.sock"));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>A <c>redis-server</c> child process on a free loopback port, with no persistence; tests may stop and restart it.</summary>
public sealed class LocalRedisProcess : IDisposable
{
    private Process? _process;
    private readonly string[] _extraArguments;
    private string? _configFile;

    private LocalRedisProcess(int port, string[] extraArguments)
    {
        Port = port;
        _extraArguments = extraArguments;
    }

    // A directory of its own: a replica writes the dataset it receives to dump.rdb there, and a server restarted in a
    // shared directory would load another server's data (and answer LOADING meanwhile).
    private string DataDirectory => Path.Combine(Path.GetTempPath(), $"hornbeam-redis-{Port}-{Environment.ProcessId}");

    private string Directory
    {
        get
        {
            System.IO.Directory.CreateDirectory(DataDirectory);
            return DataDirectory;
        }
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<LocalRedisProcess> StartAsync(int? port = null, params string[] extraArguments)
    {
        var server = new LocalRedisProcess(port ?? FreePort(), extraArguments);
        await server.RestartAsync();
        return server;
    }

    /// <summary>
    /// A server (or, with <c>--sentinel</c> among the arguments, a Sentinel) run from a config file of the caller's; a
    /// restart reads the same file again, as an operator's restart does, whatever Redis or Sentinel rewrote in it.
    /// </summary>
    public static async Task<LocalRedisProcess> StartWithConfigFileAsync(int port, string configFile, params string[] extraArguments)
    {
        var server = new LocalRedisProcess(port, extraArguments) { _configFile = configFile };
        await server.RestartAsync();
        return server;
    }

    /// <summary>The process id while the server runs.</summary>
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Freezes the server (SIGSTOP): its sockets stay open and it answers nothing until <see cref="ResumeAsync"/>.</summary>
    public Task PauseAsync() => SignalAsync("-STOP");

    /// <summary>Lets a paused server run again (SIGCONT); it then serves what queued up meanwhile.</summary>
    public Task ResumeAsync() => SignalAsync("-CONT");

    private async Task SignalAsync(string signal)
    {
        if (_process is not { HasExited: false }) throw new InvalidOperationException($"redis-server on {Port} is not running.");
        using var kill = Process.Start("kill", [signal, _process.Id.ToString()]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Starts the server (again) on the same port and waits until it answers.</summary>
    public async Task RestartAsync()
    {
        try
        {
            // A replica's first sync starts at once: Redis otherwise waits repl-diskless-sync-delay (5 s) for more
            // replicas to share the transfer, and every test with a replica, a cluster's included, would wait with it.
            string[] arguments = _configFile is not null
                ? [_configFile, .. _extraArguments]
                : ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no",
                    "--repl-diskless-sync-delay", "0", "--dir", Directory, .. _extraArguments];
            _process = Process.Start(new ProcessStartInfo("redis-server", arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                "The tests need a real Redis: set HORNBEAM_TEST_REDIS=host:port, or make a Docker engine reachable, " +
                "or install redis-server on PATH (Debian: apt-get install -y redis-server).", e);
        }
        StartWatchdog(_process!.Id);
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(15);
        // A Sentinel or a replica still loading is not a database StackExchange.Redis can ping; a plain PING is enough.
        if (_configFile is not null)
        {
            await Poll.UntilAsync(async () => await Resp.TryCommandAsync(Port, "PING") is "PONG", TimeSpan.FromSeconds(15),
                $"redis-server on {Port} answers");
            return;
        }
        while (true)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync($"{ConnectionString},connectTimeout=500");
                await probe.GetDatabase().PingAsync();
                return;
            }
            // A server still loading a dataset answers LOADING until it is done.
            catch (Exception e) when (e is RedisConnectionException
                                      || e is RedisServerException { Message: var m } && m.StartsWith("LOADING", StringComparison.Ordinal))
            {
                if (DateTime.UtcNow >= deadline) throw;
                await Task.Delay(50);
            }
        }
    }

    /// <summary>
    /// Kills the server within a second of this test host's death, however it dies: ProcessExit does not run when the
    /// host is killed, and a redis-server left behind holds its port and memory. The watchdog ends with the server.
    /// </summary>
    /// <remarks>
    /// While the server lives the watchdog asks only whether its pid does. It must not read the server's command line
    /// then: a starting redis-server rewrites it for its process title, and a read at that moment comes back empty
    /// (about one start in three, read in a tight loop), which once made the watchdog take the server for gone and
    /// leave it behind. The command line is read once, at the end, to be sure the pid is still a redis-server.
    /// <para>
    /// The watchdog runs detached (<c>setsid -f</c>), not as this host's child: when the host's whole process tree is
    /// killed, which happens to a test host that does not exit in time, a child watchdog dies with it while a server
    /// the kill has not reached yet lives on. That left a cluster node behind after CI runs, its watchdog gone.
    /// </para>
    /// </remarks>
    private static void StartWatchdog(int serverPid) => StartWatchdog(serverPid, "redis-server");

    /// <summary>
    /// The same watchdog for any child process: it is killed when this host dies, if its command line still holds
    /// <paramref name="commandLineMarker"/>.
    /// </summary>
    internal static void StartWatchdog(int serverPid, string commandLineMarker)
    {
        var script = $"while kill -0 {Environment.ProcessId} 2>/dev/null; do " +
                     $"kill -0 {serverPid} 2>/dev/null || exit 0; sleep 1; done; " +
                     $"grep -q '{commandLineMarker}' /proc/{serverPid}/cmdline 2>/dev/null && kill -9 {serverPid}";
        using var watchdog = File.Exists("/usr/bin/setsid")
            ? Process.Start(new ProcessStartInfo("/usr/bin/setsid", ["-f", "/bin/sh", "-c", script]) { UseShellExecute = false })
            : Process.Start(new ProcessStartInfo("/bin/sh", ["-c", script]) { UseShellExecute = false });
    }

    /// <summary>Stops the server the way an operator does (SIGTERM): a Redis 7 master first lets its replicas catch up.</summary>
    public async Task TerminateAsync()
    {
        if (_process is not { HasExited: false }) return;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()])) await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await _process.WaitForExitAsync(cts.Token);
        _process.Dispose();
        _process = null;
    }

    /// <summary>Kills the server as a crash would.</summary>
    public void Stop()
    {
        if (_process is { HasExited: false }) _process.Kill(entireProcessTree: true);
        _process?.WaitForExit(5000);
        _process?.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        Stop();
        if (_configFile is null && System.IO.Directory.Exists(DataDirectory)) System.IO.Directory.Delete(DataDirectory, recursive: true);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
