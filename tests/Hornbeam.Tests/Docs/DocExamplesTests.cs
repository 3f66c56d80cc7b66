using System.Diagnostics;
using Xunit.Abstractions;

namespace Hornbeam.Tests.Docs;

/// <summary>
/// Every curl example of README.md and docs/ (except docs/benchmarks.md) works as written against <c>dotnet run</c> on a
/// fresh clone, or says on the line above it what it needs first. Each example block runs with bash, top to bottom;
/// a command that fails, or a curl that gets an HTTP error, fails it.
/// </summary>
public sealed class DocExamplesTests(DevelopmentApi api, ITestOutputHelper output) : IClassFixture<DevelopmentApi>
{
    public static TheoryData<string, int> Runnable()
    {
        var rows = new TheoryData<string, int>();
        foreach (var e in DocExample.All.Where(e => e.Needs is null)) rows.Add(e.Page, e.Line);
        return rows;
    }

    public static TheoryData<string, int, string> NeedingSomethingFirst()
    {
        var rows = new TheoryData<string, int, string>();
        foreach (var e in DocExample.All.Where(e => e.Needs is not null)) rows.Add(e.Page, e.Line, e.Needs!);
        return rows;
    }

    [Theory]
    [MemberData(nameof(Runnable))]
    public async Task TheExampleRunsAsWritten(string page, int line)
    {
        var example = DocExample.All.Single(e => e.Page == page && e.Line == line);
        var script = DocExampleScript.For(example, api.Address);
        var start = new ProcessStartInfo("bash", ["-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var bash = Process.Start(start)!;
        var stdout = bash.StandardOutput.ReadToEndAsync();
        var stderr = bash.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await bash.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            bash.Kill(entireProcessTree: true);
        }
        output.WriteLine(await stdout);

        Assert.True(bash.HasExited && bash.ExitCode == 0,
            $"{page}:{line} failed ({(bash.HasExited ? $"exit code {bash.ExitCode}" : "no end within 120 s")}).\n" +
            $"--- script\n{script}\n--- stdout\n{await stdout}\n--- stderr\n{await stderr}\n--- the API's last lines\n{api.Output}");
    }

    // Each row is reported as skipped with its page, line and need. (Should no example need anything, delete this theory:
    // xunit fails a theory without rows.)
    [Theory]
    [MemberData(nameof(NeedingSomethingFirst), Skip = "the example needs what its row names first, which this test does not set up")]
    public void TheExampleSaysWhatItNeeds(string page, int line, string needs) =>
        Assert.Fail($"{page}:{line} needs {needs}");

    [Theory]
    [InlineData("README.md")]
    [InlineData("docs/state.md")]
    [InlineData("docs/cluster.md")]
    [InlineData("docs/pubsub.md")]
    [InlineData("docs/hooks.md")]
    [InlineData("docs/ml.md")]
    public void ThePageHasExamplesThatRun(string page) =>
        // Guards the reader above: a change in how a page writes its blocks must not leave its examples unchecked.
        Assert.Contains(DocExample.All, e => e.Page == page && e.Needs is null);
}
