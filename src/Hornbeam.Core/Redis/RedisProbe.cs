using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Hornbeam.Cluster;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Whether this node can read and write Redis now: a real write and read-back of a short-lived key of its own, answered
/// within <see cref="RedisOptions.DeadlineMs"/>. On Redis Cluster there is one probe key in the slot range of every
/// master the cluster's current slot map names, so a failed-over master counts as soon as its replica serves its slots,
/// and a master that cannot take writes counts against readiness even while other masters can.
/// </summary>
public sealed class RedisProbe(IConnectionMultiplexer redis, RedisKeys keys, NodeIdentity node, IOptions<RedisOptions> options)
{
    /// <summary>How long a probe key lives, in milliseconds; a node that stops probing leaves nothing behind for longer.</summary>
    public const int ProbeKeyTtlMs = 60_000;

    private static readonly RedisValue TtlArgument = ProbeKeyTtlMs;

    // Slot range (first, last) -> a hash tag whose key falls in it; ranges change only when slots move.
    private readonly ConcurrentDictionary<(int, int), string> _tags = new();

    private readonly Lock _gate = new();
    private Task<RedisProbeResult>? _running;

    /// <summary>
    /// Writes and reads back this node's probe key on every master that owns slots; never throws for a Redis failure.
    /// Callers that ask while a probe runs share its answer, so a flood of probe requests costs Redis one probe at a time.
    /// </summary>
    public Task<RedisProbeResult> ProbeAsync(CancellationToken cancellationToken = default)
    {
        Task<RedisProbeResult> running;
        lock (_gate)
        {
            if (_running is null || _running.IsCompleted) _running = RunAsync();
            running = _running;
        }
        return running.WaitAsync(cancellationToken);
    }

    private async Task<RedisProbeResult> RunAsync()
    {
        var deadlineMs = options.Value.DeadlineMs;
        using var deadline = new CancellationTokenSource(deadlineMs);
        var started = Stopwatch.GetTimestamp();
        IReadOnlyList<Target> targets;
        try
        {
            targets = await TargetsAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return new RedisProbeResult(false, $"the cluster's slot map did not arrive within {deadlineMs} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return new RedisProbeResult(false, "the cluster's slot map could not be read: " + Brief(e));
        }

        var failures = (await Task.WhenAll(targets.Select(t => ProbeAsync(t, deadlineMs, deadline.Token)))).OfType<string>().ToArray();
        if (failures.Length > 0) return new RedisProbeResult(false, string.Join("; ", failures));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture);
        return new RedisProbeResult(true, targets.Count == 1 && targets[0].Where is null
            ? $"read and write in {elapsed} ms"
            : $"read and write on {targets.Count} masters in {elapsed} ms");
    }

    /// <summary>The probe of one key: null when the value written came back, else what went wrong.</summary>
    private async Task<string?> ProbeAsync(Target target, int deadlineMs, CancellationToken deadline)
    {
        var where = target.Where is null ? "" : target.Where + ": ";
        RedisValue value = Guid.NewGuid().ToString("N");
        try
        {
            var read = await redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.HealthProbe, [target.Key], [value, TtlArgument])
                .WaitAsync(deadline);
            return (RedisValue)read == value ? null : where + "the value written did not read back";
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return where + $"no answer within {deadlineMs} ms";
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return where + Brief(e);
        }
    }

    private async Task<IReadOnlyList<Target>> TargetsAsync(CancellationToken deadline)
    {
        if (!redis.GetServers().Any(s => s.ServerType == ServerType.Cluster)) return [new Target(null, keys.HealthProbe(node.Name, "0"))];
        var masters = await MastersAsync(deadline);
        if (masters.Count == 0) throw new RedisException("no master owns any slot");
        return masters.Select(m => new Target($"{m.Endpoint} (slots {m.First}-{m.Last})",
            keys.HealthProbe(node.Name, TagFor(m.First, m.Last)))).ToArray();
    }

    /// <summary>Every master with slots, each with its first range, from the slot map a connected node holds now.</summary>
    private async Task<List<(string Endpoint, int First, int Last)>> MastersAsync(CancellationToken deadline)
    {
        RedisResult slots;
        try
        {
            slots = await redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.HealthClusterSlots).WaitAsync(deadline);
        }
        catch (RedisServerException)
        {
            // A server that refuses CLUSTER inside scripts: fall back to the client's own view, refreshed on redirects.
            return CachedMasters();
        }
        var masters = new List<(string, int, int)>();
        foreach (var range in (RedisResult[])slots!)
        {
            var fields = (RedisResult[])range!;
            var master = (RedisResult[])fields[2]!;
            var endpoint = $"{(string?)master[0]}:{(long)master[1]}";
            if (masters.All(m => m.Item1 != endpoint)) masters.Add((endpoint, (int)fields[0], (int)fields[1]));
        }
        return masters;
    }

    private List<(string Endpoint, int First, int Last)> CachedMasters()
    {
        var configuration = redis.GetServers().Where(s => s.IsConnected).Select(s => s.ClusterConfiguration)
            .FirstOrDefault(c => c is not null);
        return configuration is null
            ? []
            : configuration.Nodes.Where(n => !n.IsReplica && n.Slots.Count > 0)
                .Select(n => (n.EndPoint?.ToString() ?? n.NodeId, n.Slots[0].From, n.Slots[0].To)).ToList();
    }

    /// <summary>A hash tag whose probe key falls in the slot range, found by trying short tags in turn.</summary>
    private string TagFor(int first, int last) => _tags.GetOrAdd((first, last), range =>
    {
        // The tag alone decides the slot, so whichever node's name is in the key, the tag found here serves every node.
        for (var i = 0; i < 1_000_000; i++)
        {
            var tag = i.ToString(CultureInfo.InvariantCulture);
            var slot = redis.HashSlot(keys.HealthProbe(node.Name, tag));
            if (slot >= range.Item1 && slot <= range.Item2) return tag;
        }
        throw new RedisException($"no probe key falls in slots {range.Item1}-{range.Item2}");
    });

    /// <summary>The first clause of a client error: what failed, without the client's long diagnostic tail.</summary>
    private static string Brief(Exception e)
    {
        var message = e.Message;
        var end = message.IndexOf(';');
        if (end > 0) message = message[..end];
        return message.Length <= 200 ? message : message[..200] + "…";
    }

    /// <summary>One probe key, and where it lands (a master and its slots on a cluster; null on a single Redis).</summary>
    private sealed record Target(string? Where, RedisKey Key);
}

/// <summary>The outcome of a <see cref="RedisProbe"/>: whether this node read and wrote Redis in time, and a line saying how.</summary>
/// <param name="Ok">True when every probe key was written and read back within the deadline.</param>
/// <param name="Detail">How long it took, or which master failed and why; names Redis endpoints, never credentials.</param>
public sealed record RedisProbeResult(bool Ok, string Detail);
