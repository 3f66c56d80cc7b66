using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Hooks;

namespace Hornbeam.Tests.Hooks;

/// <summary>Named gates the tests open and hooks wait on, and signals hooks give back (e.g. "I was cancelled").</summary>
public static class Gates
{
    private static readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> All = new();

    public static TaskCompletionSource<JsonElement> For(string name) =>
        All.GetOrAdd(name, _ => new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously));

    public static string New() => Guid.NewGuid().ToString("N");
}

/// <summary>A class hook: a new instance per call, built through DI (it takes the node identity).</summary>
public sealed class EmbeddingService(NodeIdentity node) : IDisposable
{
    public static int Disposed;

    public double[] Encode(string text) => [text.Length, text.Count(char.IsUpper)];

    public async Task<double> SimilarityAsync(double[] a, double[] b, CancellationToken ct)
    {
        await Task.Yield();
        return a.Zip(b, (x, y) => x * y).Sum();
    }

    public string WhereAmI() => node.Name;

    public string Greet(string name, string greeting = "hello", int? times = null) =>
        string.Join(" ", Enumerable.Repeat($"{greeting} {name}", times ?? 1));

    public object GetSettings(int maxTokens, bool verbose) => new { MaxTokens = maxTokens, Verbose = verbose };

    public void Fail(string message) => throw new InvalidOperationException(message);

    public void Dispose() => Interlocked.Increment(ref Disposed);
}

/// <summary>An instance hook: one object, so it keeps a count across calls.</summary>
public sealed class Counter
{
    private int _count;

    public int Increment(int by = 1) => Interlocked.Add(ref _count, by);
}

/// <summary>Streaming handlers.</summary>
public sealed class Generator
{
    public async IAsyncEnumerable<string> Tokens(int count, [EnumeratorCancellation] CancellationToken ct)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return $"t{i}";
        }
    }

    public IEnumerable<int> Numbers(int count) => Enumerable.Range(1, count);

    public async IAsyncEnumerable<int> FailAfter(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
        throw new InvalidOperationException($"broke after {count}");
    }

    /// <summary>Ticks until cancelled, then opens the gate named <paramref name="gate"/>.</summary>
    public async IAsyncEnumerable<int> Forever(string gate, [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            for (var i = 0; ; i++)
            {
                yield return i;
                await Task.Delay(10, ct);
            }
        }
        finally
        {
            Gates.For(gate).TrySetResult(JsonSerializer.SerializeToElement(ct.IsCancellationRequested));
        }
    }

    public string Text() => "a string is one chunk, not characters";
}

public static class TestHookSetup
{
    /// <summary>The hooks most tests use, under fixed names.</summary>
    public static void Register(HornbeamBuilder hornbeam) => hornbeam
        .AddHook("echo", (action, args, kwargs) => action switch
        {
            "args" => (object?)new { action, args, kwargs },
            "add" => args.Sum(a => a.GetInt64()),
            "fail" => throw new InvalidOperationException("echo failed on purpose"),
            _ => throw new HornbeamException(HornbeamError.NotFound, $"echo has no action '{action}'"),
        })
        .AddHook("gate", async (action, args, kwargs, ct) =>
        {
            // Waits until the test opens the gate named by the first argument.
            var opened = await Gates.For(args[0].GetString()!).Task.WaitAsync(ct);
            return action == "fail" ? throw new InvalidOperationException("gate failed: " + opened) : (object?)opened;
        })
        .AddHook<EmbeddingService>("embeddings")
        .AddHookInstance("counter", new Counter())
        .AddHook<Generator>("gen");
}
