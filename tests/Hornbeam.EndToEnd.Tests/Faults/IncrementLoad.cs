using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Hornbeam.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Hornbeam.Tests.Faults;

/// <summary>What one increment request got back, as a client sees it.</summary>
public enum IncrementOutcome
{
    /// <summary>200 with the counter's new value: acknowledged.</summary>
    Acknowledged,
    /// <summary>503 <c>urn:hornbeam:problem:redis-unavailable</c>: certainly not applied.</summary>
    NotApplied,
    /// <summary>503 <c>urn:hornbeam:problem:outcome-unknown</c>: may have applied.</summary>
    OutcomeUnknown,
    /// <summary>No HTTP answer at all (connection reset, replica gone): may have applied.</summary>
    NoAnswer,
    /// <summary>Anything else: a broken contract.</summary>
    Unexpected,
}

/// <summary>One request's answer: which replica, what came back, how long it took, and when (Stopwatch timestamps).</summary>
public sealed record IncrementAnswer(string Replica, IncrementOutcome Outcome, long? Value, TimeSpan Latency, string Phase, string? Detail)
{
    public long Started { get; init; }

    public long Answered { get; init; }
}

/// <summary>
/// Concurrent clients sending <c>POST /state/incr/{key}</c> round-robin to Hornbeam replicas until stopped, recording
/// every answer, so a fault test can check exactly-once against the counter's final value.
/// </summary>
public sealed class IncrementLoad
{
    public const string UnavailableType = "urn:hornbeam:problem:redis-unavailable";
    public const string OutcomeUnknownType = "urn:hornbeam:problem:outcome-unknown";

    private readonly IReadOnlyList<ApiProcess> _replicas;
    private readonly ConcurrentDictionary<string, bool> _excluded = new();
    private readonly ConcurrentQueue<IncrementAnswer> _answers = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _clients = [];
    private long _next;

    public IncrementLoad(IReadOnlyList<ApiProcess> replicas, string key)
    {
        _replicas = replicas;
        Key = key;
    }

    public string Key { get; }

    /// <summary>What the test is doing now (e.g. "master killed"); each answer is counted under the phase its request started in.</summary>
    public string Phase { get => Volatile.Read(ref _phase); set => Volatile.Write(ref _phase, value); }

    private string _phase = BeforeTheFault;

    private const string BeforeTheFault = "before the fault";

    public IReadOnlyCollection<IncrementAnswer> Answers => _answers;

    /// <summary>
    /// Starts <paramref name="clients"/> clients, each sending one request at a time; they stop by themselves after
    /// <paramref name="atMost"/> even if the test never stops them.
    /// </summary>
    public void Start(int clients, TimeSpan atMost)
    {
        _stop.CancelAfter(atMost);
        for (var i = 0; i < clients; i++) _clients.Add(Task.Run(ClientLoopAsync));
    }

    /// <summary>Takes a replica out of the rotation, as a load balancer does when it sees it gone.</summary>
    public void Exclude(ApiProcess replica) => _excluded[replica.Name] = true;

    /// <summary>Waits until <paramref name="count"/> more answers of <paramref name="outcome"/> arrived.</summary>
    public async Task WaitForMoreAsync(int count, IncrementOutcome outcome, TimeSpan timeout, string because)
    {
        var target = Count(outcome) + count;
        await Poll.UntilAsync(() => Task.FromResult(Count(outcome) >= target), timeout, because);
    }

    public int Count(IncrementOutcome outcome) => _answers.Count(a => a.Outcome == outcome);

    /// <summary>
    /// The 200s to requests sent after <paramref name="from"/> and answered before <paramref name="until"/> (Stopwatch
    /// timestamps).
    /// </summary>
    public IReadOnlyList<IncrementAnswer> AcknowledgedBetween(long from, long until) =>
        _answers.Where(a => a.Outcome == IncrementOutcome.Acknowledged && a.Started > from && a.Answered < until).ToList();

    /// <summary>The highest value a 200 has handed out so far (0 before any).</summary>
    public long HighestAcknowledged => _answers.Where(a => a.Outcome == IncrementOutcome.Acknowledged).Select(a => a.Value!.Value)
        .DefaultIfEmpty(0).Max();

    /// <summary>
    /// What each of <paramref name="nodes"/> holds for the counter (read directly, as a replica's copy), beside the highest
    /// value acknowledged so far: read right after a master dies, it shows whether a replica that may be promoted lacks
    /// acknowledged increments.
    /// </summary>
    public async Task<string> DescribeCopiesAsync(IEnumerable<LocalRedisProcess> nodes, string redisKey)
    {
        var highest = HighestAcknowledged;
        var copies = new List<string>();
        foreach (var node in nodes)
        {
            var offset = (await Resp.TryCommandAsync(node.Port, "INFO", "replication"))?.Split('\n')
                .FirstOrDefault(l => l.StartsWith("slave_repl_offset:") || l.StartsWith("master_repl_offset:"))?.Trim();
            copies.Add($"{node.Port} holds {await Resp.TryCommandsAsync(node.Port, ["READONLY"], ["GET", redisKey])
                ?? await Resp.TryCommandAsync(node.Port, "GET", redisKey) ?? "(nothing)"} ({offset})");
        }
        return $"highest acknowledged {highest}; " + string.Join(", ", copies);
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
    }

    /// <summary>
    /// Polls each replica with recorded increments until it acknowledges one: the fault has healed for it, with nothing
    /// restarted.
    /// </summary>
    public async Task WaitUntilAcknowledgedByAsync(IEnumerable<ApiProcess> replicas, TimeSpan timeout)
    {
        Phase = "healed, load stopped";
        foreach (var replica in replicas)
            await Poll.UntilAsync(async () => (await SendAsync(replica)).Outcome == IncrementOutcome.Acknowledged, timeout,
                $"{replica.Name} acknowledges increments again");
    }

    /// <summary>The counter's value as read through <paramref name="replica"/>; 0 when it was never written.</summary>
    public async Task<long> ReadAsync(ApiProcess replica)
    {
        using var response = await replica.Client.GetAsync($"/state/{Key}");
        if (response.StatusCode == HttpStatusCode.NotFound) return 0;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"reading {Key} through {replica.Name}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("value").GetInt64();
    }

    /// <summary>One increment through <paramref name="replica"/>, recorded with the rest.</summary>
    public async Task<IncrementAnswer> SendAsync(ApiProcess replica)
    {
        var started = Stopwatch.GetTimestamp();
        var phase = Phase;
        IncrementAnswer answer;
        try
        {
            using var response = await replica.Client.PostAsync($"/state/incr/{Key}", null);
            var body = await response.Content.ReadAsStringAsync();
            answer = Classify(replica.Name, response, body, Stopwatch.GetElapsedTime(started), phase);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            answer = new(replica.Name, IncrementOutcome.NoAnswer, null, Stopwatch.GetElapsedTime(started), phase, e.Message);
        }
        answer = answer with { Started = started, Answered = Stopwatch.GetTimestamp() };
        _answers.Enqueue(answer);
        return answer;
    }

    private async Task ClientLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var live = _replicas.Where(r => !_excluded.ContainsKey(r.Name)).ToList();
            await SendAsync(live[(int)(Interlocked.Increment(ref _next) % live.Count)]);
        }
    }

    private static IncrementAnswer Classify(string replica, HttpResponseMessage response, string body, TimeSpan latency, string phase)
    {
        try
        {
            var json = JsonDocument.Parse(body).RootElement;
            if (response.StatusCode == HttpStatusCode.OK && json.TryGetProperty("value", out var value) &&
                value.ValueKind == JsonValueKind.Number)
                return new(replica, IncrementOutcome.Acknowledged, value.GetInt64(), latency, phase, null);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable &&
                response.Content.Headers.ContentType?.MediaType == "application/problem+json" &&
                json.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.Number && status.GetInt32() == 503 &&
                json.TryGetProperty("type", out var type))
            {
                if (type.GetString() == UnavailableType) return new(replica, IncrementOutcome.NotApplied, null, latency, phase, null);
                if (type.GetString() == OutcomeUnknownType)
                    return new(replica, IncrementOutcome.OutcomeUnknown, null, latency, phase, null);
            }
        }
        catch (JsonException)
        {
        }
        return new(replica, IncrementOutcome.Unexpected, null, latency, phase,
            $"{(int)response.StatusCode} {response.Content.Headers.ContentType}: {body}");
    }

    /// <summary>The counts by outcome, replica and phase, and every value answered twice with who answered it.</summary>
    public void WriteCounts(ITestOutputHelper output, string fault, long? final = null)
    {
        var answers = _answers.ToList();
        int Count(IncrementOutcome outcome) => answers.Count(a => a.Outcome == outcome);
        var twice = answers.Where(a => a.Outcome == IncrementOutcome.Acknowledged).GroupBy(a => a.Value).Where(g => g.Count() > 1).ToList();
        var slowest = answers.Count == 0 ? TimeSpan.Zero : answers.Max(a => a.Latency);
        output.WriteLine($"{fault}: {answers.Count} requests: 200={Count(IncrementOutcome.Acknowledged)} " +
                         $"outcome-unknown={Count(IncrementOutcome.OutcomeUnknown)} not-applied={Count(IncrementOutcome.NotApplied)} " +
                         $"no-answer={Count(IncrementOutcome.NoAnswer)} unexpected={Count(IncrementOutcome.Unexpected)}; " +
                         $"final value={final?.ToString() ?? "(not read)"}; values handed out twice={twice.Count}; " +
                         $"slowest answer={slowest.TotalMilliseconds:F0} ms");
        foreach (var group in answers.GroupBy(a => a.Replica).OrderBy(g => g.Key))
            output.WriteLine($"  {group.Key}: " + string.Join(" ", group.GroupBy(a => a.Outcome).Select(o => $"{o.Key}={o.Count()}")));
        foreach (var group in answers.GroupBy(a => a.Phase))
            output.WriteLine($"  {group.Key}: " + string.Join(" ", group.GroupBy(a => a.Outcome).Select(o => $"{o.Key}={o.Count()}")) +
                             $" slowest={group.Max(a => a.Latency).TotalMilliseconds:F0} ms");
        foreach (var odd in answers.Where(a => a.Outcome is IncrementOutcome.Unexpected or IncrementOutcome.NoAnswer).Take(5))
            output.WriteLine($"  {odd.Outcome} from {odd.Replica} ({odd.Phase}, {odd.Latency.TotalMilliseconds:F0} ms): {odd.Detail}");
        if (answers.Any(a => a.Outcome == IncrementOutcome.Unexpected))
            foreach (var replica in _replicas)
                foreach (var line in replica.Output.Split('\n').Where(l => l.Contains("Exception:")).Distinct().Take(3))
                    output.WriteLine($"  {replica.Name} log: {line}");
        foreach (var value in twice.Take(10))
            output.WriteLine($"  value {value.Key} answered by: " +
                             string.Join(", ", value.Select(a => $"{a.Replica} ({a.Phase}, {a.Latency.TotalMilliseconds:F0} ms)")));
    }

    /// <summary>
    /// The exactly-once contract against the counter's <paramref name="final"/> value (the counter started absent): every
    /// answer is a 200 or a 503 of one of the two kinds; every 200 handed out a distinct value and is still counted; and
    /// nothing was applied beyond the 200s and the answers that said (or could not say) it may have been.
    /// Writes the counts first, so they are in the output whether or not the assertions hold.
    /// </summary>
    /// <summary>
    /// Every answer came within <paramref name="deadline"/> plus a slack (Hornbeam:Redis:DeadlineMs holds under the fault):
    /// <paramref name="slack"/>, or the slowest answer before the fault if that was slower. The machine is shared (other
    /// test assemblies run beside this one), so the round trip it already took with nothing broken is the baseline a late
    /// answer is measured against, rather than a figure that holds only on an idle machine.
    /// </summary>
    public void AssertAnsweredWithin(TimeSpan deadline, TimeSpan slack)
    {
        var before = Answers.Where(a => a.Phase == BeforeTheFault).Select(a => a.Latency).DefaultIfEmpty().Max();
        if (before > slack) slack = before;
        var late = Answers.Where(a => a.Latency > deadline + slack).ToList();
        Assert.True(late.Count == 0,
            $"{late.Count} requests took longer than the deadline ({deadline.TotalMilliseconds} ms) + {slack.TotalMilliseconds:F0} ms, " +
            $"the slowest {late.MaxBy(a => a.Latency)?.Latency.TotalMilliseconds:F0} ms ({late.MaxBy(a => a.Latency)?.Outcome})");
    }

    public void AssertExactlyOnce(long final, ITestOutputHelper output, string fault, bool noAnswerAllowed = false)
    {
        WriteCounts(output, fault, final);
        var answers = _answers.ToList();
        var acknowledged = answers.Where(a => a.Outcome == IncrementOutcome.Acknowledged).Select(a => a.Value!.Value).ToList();
        var unknown = answers.Count(a => a.Outcome == IncrementOutcome.OutcomeUnknown);
        var notApplied = answers.Count(a => a.Outcome == IncrementOutcome.NotApplied);
        var noAnswer = answers.Where(a => a.Outcome == IncrementOutcome.NoAnswer).ToList();
        var unexpected = answers.Where(a => a.Outcome == IncrementOutcome.Unexpected).ToList();
        var duplicates = acknowledged.GroupBy(v => v).Where(g => g.Count() > 1).Select(g => g.Key).ToList();

        Assert.True(unexpected.Count == 0, $"{unexpected.Count} answers were neither 200 nor a 503 of a known kind, e.g. " +
                                           string.Join(" | ", unexpected.Take(3).Select(a => $"{a.Replica}: {a.Detail}")));
        Assert.True(noAnswerAllowed || noAnswer.Count == 0,
            $"{noAnswer.Count} requests got no answer, e.g. {noAnswer.FirstOrDefault()?.Detail}");
        Assert.True(duplicates.Count == 0,
            $"{duplicates.Count} counter values were handed out twice, e.g. {string.Join(", ", duplicates.Take(5))}");
        Assert.True(final >= acknowledged.Count,
            $"acknowledged increments lost: {acknowledged.Count} answered 200, the counter holds {final}");
        Assert.True(acknowledged.Count == 0 || final >= acknowledged.Max(),
            $"the counter holds {final}, below the value {acknowledged.Max()} a 200 returned");
        var mayHaveApplied = acknowledged.Count + unknown + noAnswer.Count;
        Assert.True(final <= mayHaveApplied,
            $"applied beyond what may have applied: the counter holds {final}, but only {acknowledged.Count} answered 200, " +
            $"{unknown} outcome-unknown and {noAnswer.Count} got no answer ({notApplied} answered not-applied)");
    }
}
