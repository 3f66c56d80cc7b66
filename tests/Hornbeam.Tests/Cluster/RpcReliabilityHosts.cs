using System.Text.Json;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Cluster;

/// <summary>
/// Two replicas on one prefix: node A offers the functions, node B has none, so every call through B goes to A over RPC.
/// A runs at most <see cref="Cap"/> requests at once and holds at most <see cref="Backlog"/> unfinished in its stream.
/// </summary>
public sealed class RpcReliabilityHosts : IAsyncLifetime
{
    public const int Cap = 3;
    public const int Backlog = 20;
    public const string A = "a@reliable";
    public const string B = "b@reliable";

    private int _running;
    private int _maxRunning;
    private int _heldRuns;

    public string Prefix { get; } = TestPrefix.New();
    public HornbeamApiFactory NodeA { get; private set; } = null!;
    public HornbeamApiFactory NodeB { get; private set; } = null!;

    /// <summary>What <c>held</c> waits for; opened by the test that fills the backlog.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int MaxRunning => Volatile.Read(ref _maxRunning);
    public int HeldRuns => Volatile.Read(ref _heldRuns);

    public static IDictionary<string, string?> Limits => new Dictionary<string, string?>
    {
        ["Hornbeam:Cluster:MaxConcurrentRpcHandlers"] = Cap.ToString(),
        ["Hornbeam:Cluster:RequestStreamMaxLength"] = Backlog.ToString(),
    };

    public async Task InitializeAsync()
    {
        NodeA = await ClusterNodes.StartAsync(Prefix, A, b => b
            .AddFunction("throw_kind", string (string code) => throw new HornbeamException(
                HornbeamErrors.TryParse(code, out var kind) ? kind : throw new ArgumentException(code), $"node A says {code}"))
            .AddFunction("slow", async (int ms) =>
            {
                var now = Interlocked.Increment(ref _running);
                for (var seen = Volatile.Read(ref _maxRunning); now > seen; seen = Volatile.Read(ref _maxRunning))
                    if (Interlocked.CompareExchange(ref _maxRunning, now, seen) == seen) break;
                try
                {
                    await Task.Delay(ms);
                    return now;
                }
                finally
                {
                    Interlocked.Decrement(ref _running);
                }
            })
            .AddFunction("held", async () =>
            {
                await Gate.Task;
                Interlocked.Increment(ref _heldRuns);
            }), Limits);
        NodeB = await ClusterNodes.StartAsync(Prefix, B, more: Limits);
        await UntilOfferedAsync(NodeB.CreateClient(), "held", A);
    }

    /// <summary>
    /// Waits until <paramref name="client"/>'s node lists <paramref name="function"/> as offered by <paramref name="node"/>.
    /// </summary>
    public static Task UntilOfferedAsync(HttpClient client, string function, string node) =>
        Poll.UntilAsync(async () =>
        {
            var list = await (await client.GetAsync("/functions")).ReadJsonAsync();
            return list.GetProperty("functions").EnumerateArray().Any(f => f.GetProperty("name").GetString() == function
                && f.TryGetProperty("nodes", out var nodes) && nodes.ValueKind == JsonValueKind.Array
                && nodes.EnumerateArray().Any(n => n.GetString() == node));
        }, TimeSpan.FromSeconds(15), $"{function} is offered by {node}");

    public async Task DisposeAsync()
    {
        Gate.TrySetResult();
        await NodeB.DisposeAsync();
        await NodeA.DisposeAsync();
    }
}
