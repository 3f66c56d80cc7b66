using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Browser;

/// <summary>
/// Runs a scenario in headless Chromium (Debian's <c>/usr/bin/chromium</c>, driven by <c>playwright-core</c> through
/// <c>driver.mjs</c>): opens a page of <see cref="OriginServer"/>, calls an async JavaScript function there and answers
/// what it returned. Needs node, chromium and <c>npm ci</c> in this folder; <see cref="BrowserFactAttribute"/> skips
/// the test otherwise.
/// </summary>
public static class BrowserHarness
{
    public static string Folder { get; } = Path.Combine(RepositoryRoot.Path, "tests", "Hornbeam.Tests", "Browser");

    private static string Chromium => Environment.GetEnvironmentVariable("HORNBEAM_CHROMIUM") ?? "/usr/bin/chromium";

    /// <summary>Why browser tests cannot run on this machine, or null when they can.</summary>
    public static string? Missing { get; } = FindMissing();

    private static readonly SemaphoreSlim Starting = new(1, 1);
    private static Driver? _driver;
    private static long _lastId;

    /// <summary>
    /// Opens <paramref name="page"/> and answers what <paramref name="script"/> (the source of an async function of one
    /// argument, called with <paramref name="args"/> serialized as JSON) returned. A script that throws, or one that
    /// outlives <paramref name="timeout"/>, fails the test with the browser's console. Scenarios may run at once; each
    /// gets a browser context of its own in the one browser the test run shares.
    /// </summary>
    public static async Task<JsonElement> RunAsync(Uri page, string script, object? args = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        var id = Interlocked.Increment(ref _lastId);
        var driver = await DriverAsync();
        var line = await driver.RunAsync(id,
            JsonSerializer.Serialize(new { id, url = page.ToString(), script, args, timeoutMs = (int)limit.TotalMilliseconds }),
            // The driver enforces the limit itself; this one is for a browser that hangs.
            limit + TimeSpan.FromSeconds(30));
        var output = JsonDocument.Parse(line).RootElement;
        if (!output.GetProperty("ok").GetBoolean())
            throw new InvalidOperationException($"The scenario failed in the browser: {output.GetProperty("error").GetString()}\n"
                + $"console: {output.GetProperty("console")}");
        return output.GetProperty("result").Clone();
    }

    // Launching Chromium costs seconds of CPU, so one driver (and browser) serves every scenario of the run; a driver
    // that died or hung is replaced by the next scenario.
    private static async Task<Driver> DriverAsync()
    {
        await Starting.WaitAsync();
        try
        {
            if (_driver is not { Alive: true }) _driver = Driver.Start();
            return _driver;
        }
        finally
        {
            Starting.Release();
        }
    }

    /// <summary>
    /// driver.mjs as a process: scenarios go to its stdin one JSON line each, answers come back on stdout by id. Closing
    /// stdin ends it, which the test host's exit does too, so no browser outlives the run.
    /// </summary>
    private sealed class Driver
    {
        private readonly Process _process;
        private readonly ConcurrentDictionary<long, TaskCompletionSource<string>> _waiting = new();
        private readonly SemaphoreSlim _writing = new(1, 1);
        private readonly Task<string> _stderr;

        private Driver(Process process)
        {
            _process = process;
            _stderr = process.StandardError.ReadToEndAsync();
            _ = Task.Run(ReadAnswersAsync);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => End();
        }

        public bool Alive => !_process.HasExited;

        public static Driver Start() => new(Process.Start(new ProcessStartInfo("node", [Path.Combine(Folder, "driver.mjs")])
        {
            WorkingDirectory = Folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!);

        public async Task<string> RunAsync(long id, string scenario, TimeSpan limit)
        {
            var answer = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting[id] = answer;
            await _writing.WaitAsync();
            try
            {
                await _process.StandardInput.WriteLineAsync(scenario);
                await _process.StandardInput.FlushAsync();
            }
            finally
            {
                _writing.Release();
            }
            try
            {
                return await answer.Task.WaitAsync(limit);
            }
            catch (TimeoutException)
            {
                Stop();
                throw new TimeoutException($"The browser driver did not answer within {limit}.");
            }
        }

        private async Task ReadAnswersAsync()
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                using var answer = JsonDocument.Parse(line);
                if (_waiting.TryRemove(answer.RootElement.GetProperty("id").GetInt64(), out var waiting)) waiting.TrySetResult(line);
            }
            await _process.WaitForExitAsync();
            var why = new InvalidOperationException($"The browser driver exited ({_process.ExitCode}): {await _stderr}");
            foreach (var id in _waiting.Keys)
                if (_waiting.TryRemove(id, out var waiting)) waiting.TrySetException(why);
        }

        /// <summary>
        /// At the test host's exit: stdin closed lets the driver close the browser the way Playwright does, which ends its
        /// zygote and helpers too; killing the tree at once (it stops each process before listing its children) left a
        /// stopped, orphaned zygote behind. Killed anyway if it has not gone within a few seconds.
        /// </summary>
        private void End()
        {
            try
            {
                _process.StandardInput.Close();
                if (_process.WaitForExit(TimeSpan.FromSeconds(5))) return;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
                // It exited meanwhile.
            }
            Stop();
        }

        private void Stop()
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited meanwhile.
            }
        }
    }

    private static string? FindMissing()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        if (!path.Split(Path.PathSeparator).Any(dir => File.Exists(Path.Combine(dir, "node"))))
            return "node is not installed (apt-get install nodejs)";
        if (!File.Exists(Chromium)) return $"chromium is not installed at {Chromium} (apt-get install chromium)";
        if (!Directory.Exists(Path.Combine(Folder, "node_modules", "playwright-core")))
            return "playwright-core is not installed (npm ci in tests/Hornbeam.Tests/Browser)";
        return null;
    }
}
