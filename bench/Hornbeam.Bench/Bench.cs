using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Bench;

/// <summary>
/// One benchmark run: what it started (stopped in reverse order, whatever ends the run), the results folder report.py
/// reads, and the measuring itself. The scenarios, one method per row group, are in Bench.Scenarios.cs.
/// </summary>
internal sealed partial class Bench(BenchSettings settings, string results, string tmp) : IDisposable
{
    private readonly List<IDisposable> _started = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Nodes started by the scenario itself get a longer first warm-up: on 2 busy cores tiering up takes a while.</summary>
    private bool _fresh;

    public static void Log(string message) => Console.Error.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {message}");

    private T Keep<T>(T started) where T : IDisposable
    {
        lock (_started) _started.Add(started);
        return started;
    }

    /// <summary>Stops one thing the run started, so a scenario's extra nodes do not idle through the next.</summary>
    private void Stop(IDisposable started)
    {
        lock (_started) _started.Remove(started);
        Dispose(started);
    }

    /// <summary>A replica's last lines go to the run's folder, as every other process's log does.</summary>
    private void Dispose(IDisposable started)
    {
        if (started is ApiProcess api) File.WriteAllText(Path.Combine(results, $"{api.Name}.log"), api.Output);
        started.Dispose();
    }

    public void StopAll()
    {
        IDisposable[] all;
        lock (_started)
        {
            all = [.. Enumerable.Reverse(_started)];
            _started.Clear();
        }
        foreach (var started in all)
        {
            try
            {
                Dispose(started);
            }
            catch (Exception e)
            {
                Log($"could not stop {started}: {e.Message}");
            }
        }
    }

    public void Dispose()
    {
        StopAll();
        _http.Dispose();
    }

    private static BenchFailure Fail(string message) => new(message);

    private string Tmp(string name, string content)
    {
        var path = Path.Combine(tmp, name);
        File.WriteAllText(path, content);
        return path;
    }

    private void Note(string note) => File.AppendAllText(Path.Combine(results, "notes.txt"), note + "\n");

    /// <summary>The scenario's rows are reported with their ratio to this contender.</summary>
    private void Baseline(string scenario, string contender) =>
        File.AppendAllText(Path.Combine(results, "baselines.tsv"), $"{scenario}\t{contender}\n");

    // ------------------------------------------------------------------------------------------------------------------
    // HTTP checks before measuring: each must succeed, or the row would measure an error page.

    private async Task<HttpResponseMessage> SendAsync(string method, string url, string? bodyFile, string? apiKey)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (bodyFile is not null)
            request.Content = new ByteArrayContent(await File.ReadAllBytesAsync(bodyFile))
            {
                Headers = { { "Content-Type", "application/json" } },
            };
        if (apiKey is not null) request.Headers.Add("X-Api-Key", apiKey);
        return await _http.SendAsync(request);
    }

    /// <summary>One request that must succeed; the response body.</summary>
    private async Task<string> HttpAsync(string method, string url, string? bodyFile = null, string? apiKey = null)
    {
        using var response = await SendAsync(method, url, bodyFile, apiKey);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw Fail($"{method} {url} answered {(int)response.StatusCode}: {body}");
        return body;
    }

    private async Task<int> StatusAsync(string method, string url, string? apiKey = null)
    {
        using var response = await SendAsync(method, url, null, apiKey);
        return (int)response.StatusCode;
    }

    private static async Task WaitUntilAsync(string what, Func<Task<bool>> condition, int seconds = 60)
    {
        await Poll.UntilAsync(async () =>
        {
            try
            {
                return await condition();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or BenchFailure)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(seconds), what);
        Log($"{what}: yes");
    }

    // ------------------------------------------------------------------------------------------------------------------
    // Measuring

    /// <summary>One wrk run, filed in runs.tsv for report.py unless it is a warm-up.</summary>
    private async Task MeasureAsync(string scenario, string contender, string round, int connections, Spec spec, string? duration = null)
    {
        duration ??= settings.Duration;
        var file = $"{Regex.Replace(scenario, "[^A-Za-z0-9]", "_")}.{contender}.r{round}.txt";
        var path = Path.Combine(results, file);
        var environment = new Dictionary<string, string>
        {
            ["WRK_METHOD"] = spec.Method,
            ["WRK_BODY_FILE"] = spec.Body ?? "",
            ["WRK_CONTENT_TYPE"] = spec.Body is null ? "" : "application/json",
            ["WRK_HEADER"] = spec.Header ?? "",
        };
        string[] arguments =
        [
            $"-t{Math.Min(settings.Threads, connections)}", $"-c{connections}", $"-d{duration}", "--timeout", "5s", "--latency",
            "-s", Path.Combine(RepositoryRoot.Path, "bench", "lib", "request.lua"), spec.Url,
        ];
        var exit = await ChildProcess.RunAsync(path, "wrk", arguments, Seconds(duration) + TimeSpan.FromSeconds(30), environment);
        if (exit != 0) throw Fail($"wrk failed for {scenario} / {contender}: {string.Join(" ", File.ReadLines(path).TakeLast(3))}");
        if (round == "warmup") return;
        File.AppendAllText(Path.Combine(results, "runs.tsv"), $"{scenario}\t{contender}\t{round}\t{file}\n");
        var rps = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("Requests/sec", StringComparison.Ordinal))
            ?? "no Requests/sec line";
        Log($"{scenario} / {contender} round {round}: {Regex.Replace(rps, " +", " ")}");
    }

    /// <summary>
    /// A warm-up per contender, then the rounds taking the contenders in turn, so that drift on a shared machine falls
    /// on all of them alike.
    /// </summary>
    private async Task CompareAsync(string scenario, int connections, params (string Contender, Spec Spec)[] contenders)
    {
        if (_fresh)
            foreach (var (name, spec) in contenders) await MeasureAsync(scenario, name, "warmup", connections, spec, settings.FreshWarmup);
        foreach (var (name, spec) in contenders) await MeasureAsync(scenario, name, "warmup", connections, spec, settings.Warmup);
        for (var round = 1; round <= settings.Rounds; round++)
            foreach (var (name, spec) in contenders) await MeasureAsync(scenario, name, round.ToString(), connections, spec);
    }

    /// <summary>A wrk duration ("8s", "500ms", "1m") as a TimeSpan.</summary>
    private static TimeSpan Seconds(string duration)
    {
        var m = Regex.Match(duration.Trim(), @"^([\d.]+)(ms|s|m|h)?$");
        if (!m.Success) throw new ArgumentException($"unreadable duration {duration}");
        var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => TimeSpan.FromSeconds(n),
        };
    }

    // ------------------------------------------------------------------------------------------------------------------
    // Ports and processes

    /// <summary>Distinct free loopback ports, chosen while all their sockets are open.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>The first of <paramref name="count"/> consecutive free loopback ports (deploy/local.sh puts replica i on base+i).</summary>
    private static int FreeBlock(int count)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var first = Random.Shared.Next(20000, 60000 - count);
            var listeners = new List<TcpListener>();
            try
            {
                for (var p = first; p < first + count; p++)
                {
                    var l = new TcpListener(IPAddress.Loopback, p);
                    listeners.Add(l);
                    l.Start();
                }
                return first;
            }
            catch (SocketException)
            {
            }
            finally
            {
                foreach (var l in listeners) l.Stop();
            }
        }
        throw Fail("no block of free ports");
    }

    /// <summary>The pid of a replica ApiProcess started, found by the address on its command line.</summary>
    private static int PidOf(ApiProcess api)
    {
        var marker = $"\0http://127.0.0.1:{api.Port}\0";
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmdline.Contains("Hornbeam.Api.dll") && (cmdline + "\0").Contains(marker)) return pid;
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        throw Fail($"no process serves {api.Name} on port {api.Port}");
    }

    /// <summary>A bench build beside this one (same configuration), e.g. bench/Noop's Noop.dll.</summary>
    private static string BenchDll(string project)
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        var dll = Path.Combine(RepositoryRoot.Path, "bench", project, "bin", configuration, "net10.0", project + ".dll");
        return File.Exists(dll) ? dll : throw Fail($"{dll} is missing: build bench/Hornbeam.Bench, which builds it");
    }

    /// <summary>What a short command prints, or "" when it fails (for the run's description).</summary>
    private static string Capture(string fileName, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(fileName, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit(10_000);
            return output.Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }

    /// <summary>meta.env: what report.py puts above the tables (date, command, settings, machine, software, source).</summary>
    public void WriteMeta()
    {
        var s = settings;
        var memKib = double.Parse(Regex.Match(File.ReadAllText("/proc/meminfo"), @"MemTotal:\s+(\d+)").Groups[1].Value,
            CultureInfo.InvariantCulture);
        var cpu = Regex.Match(File.ReadAllText("/proc/cpuinfo"), @"model name\s*:\s*(.*)").Groups[1].Value.Trim();
        var load = string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        var aspnet = Capture("dotnet", "--list-runtimes").Split('\n')
            .Where(l => l.StartsWith("Microsoft.AspNetCore.App ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')[1]).LastOrDefault() ?? "?";
        var redis = Regex.Match(Capture("redis-server", "--version"), @"v=([\d.]+)").Groups[1].Value;
        var webdis = Capture("dpkg-query", "-W", "-f=${Version}", "webdis") is { Length: > 0 } v && !v.Contains("no packages") ? v : "?";
        var wrk = string.Join(' ', Capture("wrk", "--version").Split('\n')[0].Split(' ').Take(2));
        var commit = Capture("git", "-C", RepositoryRoot.Path, "rev-parse", "--short", "HEAD");
        string source;
        if (commit.Length is > 0 and < 20 && !commit.Contains(' '))
        {
            var dirty = Capture("git", "-C", RepositoryRoot.Path, "--no-optional-locks", "status", "--porcelain", "--", "src")
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            source = $"commit {commit}" + (dirty > 0 ? $", with {dirty} uncommitted change(s) under src/" : "");
        }
        else
        {
            source = "uncommitted work tree (no commit yet)";
        }
        var meta = new StringBuilder();
        meta.Append(CultureInfo.InvariantCulture, $"date={s.Date}\n");
        meta.Append(CultureInfo.InvariantCulture, $"command={s.Command}\n");
        meta.Append(CultureInfo.InvariantCulture,
            $"settings=scenarios {string.Join(' ', s.Scenarios)}; wrk -t{s.Threads} -c{s.Connections} -d{s.Duration} --latency, " +
            $"{s.Rounds} alternating rounds after a {s.Warmup} warm-up each (and {s.StartWarmup} per route once after start-up); " +
            $"listing at -c{s.ListConnections}; redis-benchmark -c{s.Connections} -n{s.RedisRequests}; {s.Keys} filler keys; " +
            $"nodes started by a scenario first get {s.FreshWarmup} per contender; SSE {s.SseSubscribers} subscribers, " +
            $"{s.SseMessages} messages at {s.SseRate}/s after {s.SseWarmup} uncounted ones\n");
        meta.Append(CultureInfo.InvariantCulture,
            $"machine={Environment.ProcessorCount} cores ({cpu}), {memKib / 1048576:0.0} GiB memory, Linux {Capture("uname", "-r")}; " +
            $"load average at start {load}\n");
        meta.Append(CultureInfo.InvariantCulture,
            $"software=.NET {aspnet} (ASP.NET Core; Server GC, thread-pool hill climbing off, as the runtimeconfigs ship), " +
            $"redis-server {redis}, webdis {webdis}, {wrk}\n");
        meta.Append(CultureInfo.InvariantCulture, $"source={source}\n");
        File.WriteAllText(Path.Combine(results, "meta.env"), meta.ToString());
    }
}
