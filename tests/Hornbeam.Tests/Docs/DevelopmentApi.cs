using System.Collections.Concurrent;
using System.Diagnostics;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Docs;

/// <summary>
/// The API as the README runs it: a real process in Development, from the project's folder (so it reads
/// appsettings.Development.json, as <c>dotnet run</c> does), with no connection string (so on its embedded store, with
/// the sample functions and hooks), on a free loopback port instead of 5000. Its store is its own, so the examples'
/// fixed keys meet no other test's.
/// </summary>
public sealed class DevelopmentApi : IAsyncLifetime
{
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    /// <summary>Where the examples' <c>localhost:5000</c> goes instead.</summary>
    public string Address { get; private set; } = "";

    /// <summary>The last lines the process wrote, for a failure message.</summary>
    public string Output => string.Join("\n", _output);

    public async Task InitializeAsync()
    {
        var port = LocalRedisProcess.FreePort();
        Address = $"127.0.0.1:{port}";
        var start = new ProcessStartInfo("dotnet", [ApiProcess.ApiDll(), "--urls", $"http://{Address}"])
        {
            WorkingDirectory = Path.Combine(RepositoryRoot.Path, "src", "Hornbeam.Api"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment.Remove("ConnectionStrings__Redis");
        // On a loaded test machine the in-process store can miss the default 2 s deadline; the examples are not about it.
        start.Environment["Hornbeam__Redis__DeadlineMs"] = "10000";
        _process = Process.Start(start)!;
        LocalRedisProcess.StartWatchdog(_process.Id, "Hornbeam.Api.dll");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var client = new HttpClient { BaseAddress = new Uri($"http://{Address}"), Timeout = TimeSpan.FromSeconds(10) };
        await Poll.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new InvalidOperationException($"the API exited with {_process.ExitCode}:\n{Output}");
            try
            {
                return (await client.GetAsync("/health/ready")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), $"the Development API on {Address} is ready");
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 100) _output.TryDequeue(out _);
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false }) _process.Kill(entireProcessTree: true);
        _process?.Dispose();
        return Task.CompletedTask;
    }
}
