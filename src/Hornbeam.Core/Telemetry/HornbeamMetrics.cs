using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hornbeam.Telemetry;

/// <summary>Hornbeam's own metrics and traces: the meter and activity source are both named <c>Hornbeam</c>.</summary>
public static class HornbeamMetrics
{
    /// <summary>The name of the meter and the activity source, for OpenTelemetry registration.</summary>
    public const string Name = "Hornbeam";

    /// <summary>
    /// The activity source for Hornbeam's own spans: RPC calls and casts (client) and their handlers (server), hook executions
    /// and task runs. The state routes start none: they are the hot path.
    /// </summary>
    public static readonly ActivitySource Activities = new(Name);

    private static readonly Meter Meter = new(Name);

    private static readonly string[] StateOps = ["get", "set", "delete", "incr", "get_multi", "keys", "transaction", "bulk_set"];
    private static readonly long[] StateOpCounts = new long[StateOps.Length];

    /// <summary>
    /// State operations, tagged <c>op</c> (get, set, delete, incr, get_multi, keys, transaction, bulk_set). Counted with one
    /// interlocked add and read when metrics are collected: a tagged counter's lookup per call costs more than the hottest
    /// state routes can spare.
    /// </summary>
    public static readonly ObservableCounter<long> StateOperations = Meter.CreateObservableCounter("hornbeam.state.operations",
        ObserveStateOperations, description: "State operations by kind");

    /// <summary>Counts one state operation; <paramref name="op"/> is one of the <c>op</c> tag values.</summary>
    public static void CountStateOperation(string op) => Interlocked.Increment(ref StateOpCounts[Array.IndexOf(StateOps, op)]);

    private static IEnumerable<Measurement<long>> ObserveStateOperations()
    {
        for (var i = 0; i < StateOps.Length; i++)
            yield return new Measurement<long>(Volatile.Read(ref StateOpCounts[i]), new KeyValuePair<string, object?>("op", StateOps[i]));
    }

    /// <summary>RPC calls this node made to other nodes, in milliseconds, tagged <c>outcome</c>.</summary>
    public static readonly Histogram<double> RpcDuration = Meter.CreateHistogram<double>("hornbeam.rpc.duration", "ms",
        "RPC round trips by outcome");

    /// <summary>Subscribers each publish reached.</summary>
    public static readonly Histogram<long> PublishFanOut = Meter.CreateHistogram<long>("hornbeam.pubsub.fanout",
        description: "Subscribers reached per publish");

    /// <summary>Open subscriptions on this node (SSE, WebSocket, C#).</summary>
    public static readonly UpDownCounter<long> OpenSubscriptions = Meter.CreateUpDownCounter<long>("hornbeam.pubsub.subscriptions",
        description: "Open subscriptions on this node");

    /// <summary>Async task transitions, tagged <c>state</c> (started, succeeded, failed).</summary>
    public static readonly Counter<long> TaskStates = Meter.CreateCounter<long>("hornbeam.tasks",
        description: "Async task state transitions");

    /// <summary>Inference cache lookups, tagged <c>result</c> (hit, miss).</summary>
    public static readonly Counter<long> CacheLookups = Meter.CreateCounter<long>("hornbeam.ml.cache.lookups",
        description: "Inference cache hits and misses");
}
