using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// A Hornbeam API replica as a real process (<c>dotnet Hornbeam.Api.dll</c>) on a free loopback port, configured through
/// the environment as an operator's deployment is, so that a test can SIGKILL it. It dies with the test host.
/// </summary>
public sealed class ApiProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ApiProcess(string name, int port, Process process)
    {
        Name = name;
        Port = port;
        _process = process;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public string Name { get; }

    public int Port { get; }

    /// <summary>A client of this replica alone.</summary>
    public HttpClient Client { get; }

    public bool IsRunning => !_process.HasExited;

    /// <summary>
    /// Starts a replica with <paramref name="settings"/> (configuration keys such as <c>Hornbeam:Redis:WaitReplicas</c>)
    /// and access control off, and waits until it serves a state read.
    /// </summary>
    public static async Task<ApiProcess> StartAsync(string name, string redis, string prefix, IDictionary<string, string>? settings = null)
    {
        var port = LocalRedisProcess.FreePort();
        var start = new ProcessStartInfo("dotnet", [ApiDll(), "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings:Redis"] = redis,
            ["Hornbeam:Prefix"] = prefix,
            ["Hornbeam:NodeName"] = name,
            ["Hornbeam:Auth:Enabled"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string>()) environment[k] = v;
        foreach (var (k, v) in environment) start.Environment[k.Replace(":", "__")] = v;

        var process = Process.Start(start)!;
        LocalRedisProcess.StartWatchdog(process.Id, "Hornbeam.Api.dll");
        var api = new ApiProcess(name, port, process);
        process.OutputDataReceived += (_, e) => api.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => api.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Poll.UntilAsync(async () =>
            {
                if (process.HasExited) throw new InvalidOperationException($"{name} exited with {process.ExitCode}:\n{api.Output}");
                try
                {
                    var probe = await api.Client.GetAsync("/state/hornbeam-start-probe");
                    // 401: a replica with access control on (the bench's) is serving too; the caller checks its key.
                    return probe.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound or HttpStatusCode.Unauthorized;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60), $"{name} on port {port} serves a state read");
            return api;
        }
        catch
        {
            api.Dispose();
            throw;
        }
    }

    /// <summary>The last lines the process wrote, for a failure message.</summary>
    public string Output => string.Join("\n", _output);

    /// <summary>Kills the replica as a crash would (SIGKILL): no graceful shutdown, requests in flight get no answer.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill();
        _process.WaitForExit(5000);
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 200) _output.TryDequeue(out _);
    }

    public void Dispose()
    {
        Client.Dispose();
        Kill();
        _process.Dispose();
    }

    /// <summary>The API build that sits beside this test build (same configuration).</summary>
    public static string ApiDll()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}")
            ? "Release"
            : "Debug";
        var dll = Path.Combine(RepositoryRoot.Path, "src", "Hornbeam.Api", "bin", configuration, "net10.0", "Hornbeam.Api.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the API first (dotnet build).", dll);
    }
}
