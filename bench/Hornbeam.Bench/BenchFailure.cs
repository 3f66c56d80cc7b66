namespace Hornbeam.Bench;

/// <summary>A check of the run failed: a contender did not answer as it must, so its row would measure something else.</summary>
internal sealed class BenchFailure(string message) : Exception(message);
