using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Bench;

/// <summary>
/// One deploy/local.sh topology (redis-server, replicas, nginx) as an operator starts it: the nginx rows measure what
/// that script ships. Disposing runs its stop.
/// </summary>
internal sealed class LocalTopology(string name, IDictionary<string, string> environment, string logPath) : IDisposable
{
    private static readonly string Script = Path.Combine(RepositoryRoot.Path, "deploy", "local.sh");

    public async Task StartAsync()
    {
        if (await ChildProcess.RunAsync(logPath, "bash", [Script, "start"], TimeSpan.FromMinutes(3), environment) != 0)
            throw new BenchFailure($"deploy/local.sh start ({name}) failed: {string.Join(" ", File.ReadLines(logPath).TakeLast(5))}");
        Bench.Log($"started {name} with deploy/local.sh");
    }

    public void Dispose()
    {
        var stop = ChildProcess.RunAsync(logPath + ".stop", "bash", [Script, "stop"], TimeSpan.FromSeconds(60), environment);
        if (stop.GetAwaiter().GetResult() != 0) Bench.Log($"could not stop {name} (see {logPath}.stop)");
    }

    public override string ToString() => name;
}
