using System.Diagnostics;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Bench;

/// <summary>
/// A process the run starts besides Redis and the API replicas (webdis, Noop, wrk, redis-benchmark, the SSE client), its
/// output in a log file of the run. It is killed when disposed, and by the tests' watchdog if this process dies first.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ChildProcess(string name, Process process, StreamWriter log)
    {
        Name = name;
        _process = process;
        _log = log;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string LogPath { get; private init; } = "";

    public static ChildProcess Start(string name, string logPath, string fileName, IEnumerable<string> arguments,
        IDictionary<string, string>? environment = null, string? workingDirectory = null, bool announce = true)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(start)!;
        // Short-lived tools need no watchdog: they end within their own time limit.
        if (fileName is not ("wrk" or "redis-benchmark" or "redis-cli" or "bash"))
            LocalRedisProcess.StartWatchdog(process.Id, Path.GetFileName(arguments.FirstOrDefault(a => a.EndsWith(".dll")) ?? fileName));
        var child = new ChildProcess(name, process, log) { LogPath = logPath };
        process.OutputDataReceived += (_, e) => child.Write(e.Data);
        process.ErrorDataReceived += (_, e) => child.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (announce) Bench.Log($"started {name} (pid {process.Id})");
        return child;
    }

    /// <summary>Runs a tool to its end within <paramref name="limit"/>; its output goes to <paramref name="logPath"/>.</summary>
    public static async Task<int> RunAsync(string logPath, string fileName, IEnumerable<string> arguments, TimeSpan limit,
        IDictionary<string, string>? environment = null)
    {
        using var child = Start(Path.GetFileNameWithoutExtension(logPath), logPath, fileName, arguments, environment, announce: false);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await child._process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not end within {limit.TotalSeconds:0} s");
        }
        // The exit event can precede the last output lines.
        child._process.WaitForExit();
        return child._process.ExitCode;
    }

    private bool _closed;

    private void Write(string? line)
    {
        if (line is null) return;
        lock (_log)
            if (!_closed) _log.WriteLine(line);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
        lock (_log)
        {
            _closed = true;
            _log.Dispose();
        }
    }
}
