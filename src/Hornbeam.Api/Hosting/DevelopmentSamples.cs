using Hornbeam.Hooks;

namespace Hornbeam.Api.Hosting;

/// <summary>
/// The functions, RPC module and hook that the curl examples in README.md and docs/ call, so that they answer on a plain
/// <c>dotnet run</c>. Program.cs adds them in Development only: a deployed service offers only what its own code registers.
/// Every name starts with <c>demo</c>, so a sample is never mistaken for a built-in.
/// </summary>
internal static class DevelopmentSamples
{
    private const int MaxSleepMilliseconds = 10_000;

    /// <summary>Registers function <c>demo_add</c>, RPC module <c>demo</c> (<c>predict</c>, <c>sleep</c>, <c>log</c>) and hook
    /// <c>demo</c>.</summary>
    public static HornbeamBuilder AddDevelopmentSamples(this IServiceCollection services) => new HornbeamBuilder(services)
        .AddFunction("demo_add", (long a, long b) => a + b)
        .AddModule("demo", module => module
            .Add("predict", (double[] features) => Predict(features))
            // Something slow to call, so a client's timeout can be seen; bounded so a sample never holds a node for long.
            .Add("sleep", async (int milliseconds, CancellationToken ct) =>
            {
                if (milliseconds is < 0 or > MaxSleepMilliseconds)
                    throw new HornbeamException(HornbeamError.InvalidInput,
                        $"milliseconds must be between 0 and {MaxSleepMilliseconds}; it was {milliseconds}.");
                await Task.Delay(milliseconds, ct);
                return milliseconds;
            })
            // A cast's answer goes nowhere, so the sample shows it arrived where `dotnet run` prints.
            .Add("log", (string level, string message) => Console.WriteLine($"demo:log [{level}] {message}")))
        .AddHookInstance("demo", new DemoHook());

    // A stand-in for a model: the label is the sign of the features' sum.
    private static object Predict(double[] features)
    {
        var score = Math.Round(features.Sum(), 6);
        return new { label = score >= 0 ? "positive" : "negative", score };
    }
}
