// Benchmarks one Hornbeam node against webdis (Redis over HTTP) and a no-op Kestrel app, with redis-benchmark as the
// floor, and files the figures (docs/benchmarks.md, "Method"). Everything runs on loopback and stops when this does.
//
//   bash bench/run.sh        (= dotnet run -c Release --project bench/Hornbeam.Bench)
//
// Settings come from BENCH_* environment variables (BenchSettings). The results go to bench/out/results/<time>/ in the
// files bench/lib/report.py reads, which renders the section and files it.
using System.Runtime.InteropServices;
using Hornbeam.Bench;
using Hornbeam.Tests.Infrastructure;

BenchSettings settings;
try
{
    settings = BenchSettings.FromEnvironment();
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Bench.Log($"FAILED: {e.Message}");
    return 2;
}
string[] tools =
[
    "redis-server", "redis-cli", "redis-benchmark", "webdis", "wrk", "python3",
    .. (settings.Scenarios.Contains("nginx") ? ["nginx"] : Array.Empty<string>()),
];
foreach (var tool in tools)
{
    var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin")
        .Any(dir => File.Exists(Path.Combine(dir, tool)));
    if (!onPath)
    {
        Bench.Log($"FAILED: {tool} is not installed (apt-get install redis-server webdis wrk curl nginx python3)");
        return 1;
    }
}

// The API runs from its build folder, as deployed: its appsettings.json turns off per-request hosting diagnostics.
Directory.SetCurrentDirectory(Path.GetDirectoryName(ApiProcess.ApiDll())!);
var results = Path.Combine(RepositoryRoot.Path, "bench", "out", "results", DateTime.Now.ToString("yyyyMMdd'T'HHmmss"));
Directory.CreateDirectory(results);
File.WriteAllText(Path.Combine(results, "runs.tsv"), "");
File.WriteAllText(Path.Combine(results, "baselines.tsv"), "");
var tmp = Directory.CreateTempSubdirectory("hornbeam-bench.").FullName;
Bench.Log($"results go to {results}");

using var bench = new Bench(settings, results, tmp);
// The whole run is bounded, and Ctrl-C or SIGTERM stop what it started; the watchdogs cover a harder death.
void Abandon(string why, int status)
{
    Bench.Log($"FAILED: {why}; stopping what the run started");
    bench.StopAll();
    Environment.Exit(status);
}
using var deadline = new Timer(_ => Abandon($"the run took longer than BENCH_TIMEOUT ({settings.Timeout.TotalSeconds:0} s)", 124),
    null, settings.Timeout, Timeout.InfiniteTimeSpan);
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    Abandon("interrupted", 130);
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    Abandon("terminated", 143);
});

try
{
    bench.WriteMeta();
    await bench.StartServersAsync();
    await bench.WarmUpAsync();
    foreach (var scenario in settings.Scenarios)
    {
        Bench.Log($"--- {scenario}");
        await bench.RunScenarioAsync(scenario);
    }
}
catch (Exception e)
{
    Bench.Log($"FAILED: {(e is BenchFailure ? e.Message : e.ToString())}");
    return 1;
}
finally
{
    bench.StopAll();
    try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
}

var doc = settings.Doc ?? Path.Combine(RepositoryRoot.Path, "bench", "results", $"{settings.Date}-run.md");
var report = Path.Combine(RepositoryRoot.Path, "bench", "lib", "report.py");
var status = await ChildProcess.RunAsync(Path.Combine(results, "report.log"), "python3", [report, results, doc], TimeSpan.FromMinutes(1));
Console.Write(File.ReadAllText(Path.Combine(results, "report.log")));
if (status != 0)
{
    Bench.Log("FAILED: bench/lib/report.py (see report.log)");
    return 1;
}
Bench.Log($"wrote {doc}");
return 0;
