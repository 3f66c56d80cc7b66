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

    /// <summary>
    /// Opens <paramref name="page"/> and answers what <paramref name="script"/> (the source of an async function of one
    /// argument, called with <paramref name="args"/> serialized as JSON) returned. A script that throws, or one that
    /// outlives <paramref name="timeout"/>, fails the test with the browser's console.
    /// </summary>
    public static async Task<JsonElement> RunAsync(Uri page, string script, object? args = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        var start = new ProcessStartInfo("node", [Path.Combine(Folder, "driver.mjs")])
        {
            WorkingDirectory = Folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var input = JsonSerializer.Serialize(new { url = page.ToString(), script, args, timeoutMs = (int)limit.TotalMilliseconds });
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // The driver enforces the limit itself; this one is for a browser that hangs on launch or close.
        using var cancel = new CancellationTokenSource(limit + TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The browser driver did not exit: {await stderr}");
        }
        var line = (await stdout).Trim();
        if (line.Length == 0)
            throw new InvalidOperationException($"The browser driver printed nothing (exit {process.ExitCode}): {await stderr}");
        var output = JsonDocument.Parse(line).RootElement;
        if (!output.GetProperty("ok").GetBoolean())
            throw new InvalidOperationException($"The scenario failed in the browser: {output.GetProperty("error").GetString()}\n"
                + $"console: {output.GetProperty("console")}");
        return output.GetProperty("result").Clone();
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
