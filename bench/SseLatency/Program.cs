// Publish-to-receive latency of Hornbeam pub/sub over SSE, with many subscribers spread over several nodes.
//
//   SseLatency --nodes http://127.0.0.1:P1,http://127.0.0.1:P2 --topic T --subscribers 1000 --messages 200 --rate 20
//              [--warmup 200] --rss-pid PID [--cpu-pids PID,PID] --out result.json [--api-key KEY]
//
// Opens SUBSCRIBERS SSE streams (GET /pubsub/T, round-robin over the nodes, one HTTP/1.1 socket each) and waits until
// each has had its `event: subscribed`; then publishes WARMUP + MESSAGES messages at RATE per second (round-robin over the
// nodes), each carrying its send time, and every stream records receive time minus send time. Warm-up messages carry a
// negative index and are not counted. Each stream is its own async read loop on the runtime's socket engine, so a message
// is timed when its read completes rather than when one loop gets round to its socket. RSS-PID is a node whose VmRSS is
// read idle (before any stream opens) and with its share of the streams open, for memory per connection; the CPU-PIDS
// (the nodes) have their CPU time read while the messages flow, as is this client's own. Everything is
// bounded in time; the result is one JSON object, the fields bench/lib/report.py reads from sse.json.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Hornbeam.Bench.SseLatency;

var options = Options.Parse(args);
var nodes = options.Nodes;
var expected = options.Subscribers * options.Messages;

await Task.Delay(TimeSpan.FromSeconds(1));
var rssIdle = RssKib(options.RssPid);

using var stop = new CancellationTokenSource();
var latencies = new double[expected];
Array.Fill(latencies, double.NaN);
var deliveries = 0;
var closed = 0;
var allDelivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

// Streams open a few dozen at a time, each slot held until its `subscribed` event, so no node gets a thousand at once.
using var opening = new SemaphoreSlim(50);
var subscribed = new TaskCompletionSource[options.Subscribers];
var readers = new Task[options.Subscribers];
for (var s = 0; s < options.Subscribers; s++)
{
    subscribed[s] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    await opening.WaitAsync();
    var stream = s;
    _ = subscribed[s].Task.ContinueWith(_ => opening.Release(), TaskScheduler.Default);
    readers[s] = Task.Run(() => ReadStreamAsync(stream));
}
var subscribing = Task.WhenAll(subscribed.Select(t => t.Task));
if (await Task.WhenAny(subscribing, Task.Delay(TimeSpan.FromSeconds(60))) != subscribing)
    return Fail($"only {subscribed.Count(t => t.Task.IsCompletedSuccessfully)} of {options.Subscribers} streams subscribed within 60 s");
await subscribing; // surfaces a stream's failure

await Task.Delay(TimeSpan.FromSeconds(1));
var rssOpen = RssKib(options.RssPid);
var perNode = Enumerable.Range(0, options.Subscribers).Count(i => i % nodes.Length == 0);

var process = Process.GetCurrentProcess();
var cpuStart = process.TotalProcessorTime;
var nodesCpuStart = options.CpuPids.Sum(CpuSeconds);
var wallStart = Stopwatch.GetTimestamp();
var publishing = PublishAsync();
var deadline = TimeSpan.FromSeconds((options.Warmup + options.Messages) / options.Rate + 30);
await Task.WhenAny(allDelivered.Task, Task.Delay(deadline));
var published = await publishing.WaitAsync(TimeSpan.FromSeconds(10));
process.Refresh();
var wall = Stopwatch.GetElapsedTime(wallStart).TotalSeconds;
var clientCpu = (process.TotalProcessorTime - cpuStart).TotalSeconds / wall;
var nodesCpu = (options.CpuPids.Sum(CpuSeconds) - nodesCpuStart) / wall;
var rssAfter = RssKib(options.RssPid);
stop.Cancel();
await Task.WhenAny(Task.WhenAll(readers), Task.Delay(TimeSpan.FromSeconds(5)));

var received = latencies.Where(x => !double.IsNaN(x)).Order().ToArray();
// Per message, its earliest delivery: the least of this client's own queueing.
var first = Enumerable.Range(0, options.Messages)
    .Select(m => Enumerable.Range(0, options.Subscribers).Select(s => latencies[s * options.Messages + m])
        .Where(x => !double.IsNaN(x)).DefaultIfEmpty(double.NaN).Min())
    .Where(x => !double.IsNaN(x)).Order().ToArray();

var json = new MemoryStream();
using (var w = new Utf8JsonWriter(json))
{
    w.WriteStartObject();
    w.WriteNumber("subscribers", options.Subscribers);
    w.WriteNumber("nodes", nodes.Length);
    w.WriteNumber("messages", options.Messages);
    w.WriteNumber("rate", options.Rate);
    w.WriteNumber("warmup_messages", options.Warmup);
    w.WriteNumber("deliveries", Volatile.Read(ref deliveries));
    w.WriteNumber("expected", expected);
    w.WriteNumber("closed_streams", Volatile.Read(ref closed));
    WriteMs(w, "p50_ms", Median(received));
    WriteMs(w, "p90_ms", Rank(received, 0.90));
    WriteMs(w, "p99_ms", Rank(received, 0.99));
    WriteMs(w, "max_ms", received.Length > 0 ? received[^1] : null);
    WriteMs(w, "first_delivery_p50_ms", Median(first));
    w.WriteNumber("client_cpu_share", Math.Round(clientCpu, 3));
    if (options.CpuPids.Length > 0) w.WriteNumber("nodes_cpu_share", Math.Round(nodesCpu, 3));
    w.WriteString("client", "bench/SseLatency (C#, one socket and async read loop per stream; publishes from the same process)");
    w.WriteNumber("rss_idle_kib", rssIdle);
    w.WriteNumber("rss_open_kib", rssOpen);
    w.WriteNumber("rss_after_kib", rssAfter);
    w.WriteNumber("streams_on_rss_node", perNode);
    w.WriteNumber("kib_per_stream", Math.Round((rssOpen - rssIdle) / (double)perNode, 2));
    if (published.Error is { } error)
    {
        w.WriteString("error", error);
    }
    else
    {
        w.WriteNumber("subscribers_min", published.SubscribersMin);
        w.WriteNumber("subscribers_max", published.SubscribersMax);
        w.WriteNumber("publish_seconds", Math.Round(published.Seconds, 3));
        // How long POST /pubsub/{topic} took to answer (sequence, history, PUBLISH): the part of the latency before any fan-out.
        WriteMs(w, "publish_p50_ms", Median(published.RoundTrips));
        WriteMs(w, "publish_p99_ms", Rank(published.RoundTrips, 0.99));
    }
    w.WriteEndObject();
}
await File.WriteAllBytesAsync(options.Out, json.ToArray());
Console.WriteLine(Encoding.UTF8.GetString(json.ToArray()));
return published.Error is null ? 0 : 1;

async Task ReadStreamAsync(int s)
{
    var node = nodes[s % nodes.Length];
    try
    {
        await RawSseStream.ReadAsync(node, $"/pubsub/{options.Topic}", options.ApiKey, (type, data, at) =>
        {
            if (type.SequenceEqual("subscribed"u8))
            {
                subscribed[s].TrySetResult();
                return;
            }
            if (!type.IsEmpty || !TryParseMessage(data, out var sent, out var index) || index < 0 || index >= options.Messages) return;
            latencies[s * options.Messages + index] = Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds;
            if (Interlocked.Increment(ref deliveries) == expected) allDelivered.TrySetResult();
        }, stop.Token);
        Interlocked.Increment(ref closed);
    }
    catch (OperationCanceledException) when (stop.IsCancellationRequested)
    {
        // Measured; the streams are closed.
    }
    catch (Exception e) when (e is SocketException or IOException or InvalidOperationException)
    {
        Interlocked.Increment(ref closed);
        subscribed[s].TrySetException(e);
    }
}

async Task<Published> PublishAsync()
{
    using var client = NewClient();
    var counts = new List<long>();
    var roundTrips = new List<double>();
    var start = Stopwatch.GetTimestamp();
    for (var k = 0; k < options.Warmup + options.Messages; k++)
    {
        var due = TimeSpan.FromSeconds(k / options.Rate) - Stopwatch.GetElapsedTime(start);
        if (due > TimeSpan.Zero) await Task.Delay(due);
        var i = k - options.Warmup;
        var sent = Stopwatch.GetTimestamp();
        var body = Encoding.UTF8.GetBytes($$"""{"t":{{sent}},"i":{{i}}}""");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(nodes[k % nodes.Length], $"/pubsub/{options.Topic}"))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        if (options.ApiKey is { } key) request.Headers.Add("X-Api-Key", key);
        using var response = await client.SendAsync(request);
        var answer = await response.Content.ReadAsByteArrayAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            return new Published(0, 0, 0, [],
                $"publish {i} answered {(int)response.StatusCode}: " +
                $"{Encoding.UTF8.GetString(answer.AsSpan(0, Math.Min(200, answer.Length)))}");
        if (i < 0) continue;
        roundTrips.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        counts.Add(JsonDocument.Parse(answer).RootElement.GetProperty("subscribers").GetInt64());
    }
    return new Published(counts.Min(), counts.Max(), Stopwatch.GetElapsedTime(start).TotalSeconds, [.. roundTrips.Order()], null);
}

static HttpClient NewClient() => new(new SocketsHttpHandler
{
    UseProxy = false,
    AutomaticDecompression = DecompressionMethods.None,
    ConnectTimeout = TimeSpan.FromSeconds(10),
    PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
})
{ Timeout = Timeout.InfiniteTimeSpan };

static long RssKib(int pid)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    throw new InvalidOperationException($"no VmRSS for pid {pid}");
}

// utime + stime of a process, from /proc/PID/stat (fields 14 and 15, after the parenthesised command name).
static double CpuSeconds(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

// The same order statistics as the python client had: the median, and the element at rank q·(n−1) for the others.
static double? Median(double[] sorted) => sorted.Length == 0 ? null
    : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

static double? Rank(double[] sorted, double q) => sorted.Length == 0 ? null : sorted[(int)(q * (sorted.Length - 1))];

static void WriteMs(Utf8JsonWriter w, string name, double? ms)
{
    if (ms is { } value) w.WriteNumber(name, Math.Round(value, 3));
    else w.WriteNull(name);
}

// A message's data is {"t": send timestamp, "i": index}.
static bool TryParseMessage(ReadOnlySpan<byte> data, out long sent, out int index)
{
    sent = 0;
    index = int.MinValue;
    var reader = new Utf8JsonReader(data);
    while (reader.Read())
    {
        if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1) continue;
        if (reader.ValueTextEquals("t"u8) && reader.Read()) sent = reader.GetInt64();
        else if (reader.ValueTextEquals("i"u8) && reader.Read()) index = reader.GetInt32();
    }
    return sent != 0 && index != int.MinValue;
}

static int Fail(string message)
{
    Console.Error.WriteLine(message);
    return 1;
}

internal sealed record Published(long SubscribersMin, long SubscribersMax, double Seconds, double[] RoundTrips, string? Error);

internal sealed record Options(Uri[] Nodes, string Topic, int Subscribers, int Messages, double Rate, int Warmup, int RssPid, int[] CpuPids,
    string? ApiKey, string Out)
{
    public static Options Parse(string[] args)
    {
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"expected --name value, got {args[i]}");
            given[args[i][2..]] = args[i + 1];
        }
        string Required(string name) => given.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");
        string Or(string name, string fallback) => given.GetValueOrDefault(name, fallback);
        var inv = CultureInfo.InvariantCulture;
        return new Options(
            Required("nodes").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(u => new Uri(u)).ToArray(),
            Required("topic"),
            int.Parse(Or("subscribers", "1000"), inv),
            int.Parse(Or("messages", "200"), inv),
            double.Parse(Or("rate", "20"), inv),
            int.Parse(Or("warmup", "0"), inv),
            int.Parse(Required("rss-pid"), inv),
            Or("cpu-pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, inv)).ToArray(),
            given.TryGetValue("api-key", out var key) && key.Length > 0 ? key : null,
            Required("out"));
    }
}
