namespace Hornbeam.Bench;

/// <summary>
/// The run's settings, from the same BENCH_* environment variables bench/run.sh has always read (docs/benchmarks.md).
/// Durations stay in wrk's notation ("8s").
/// </summary>
internal sealed record BenchSettings
{
    public static readonly string[] AllScenarios =
        ["incr", "get", "put", "multi", "redis_floor", "list", "rpc", "hooks", "pubsub", "nginx", "cluster"];

    // The knobs a reader would retype, in the order bench/run.sh printed them in the command line.
    private static readonly string[] Knobs =
    [
        "BENCH_SCENARIOS", "BENCH_FRESH_WARMUP", "BENCH_SSE_SUBSCRIBERS", "BENCH_SSE_MESSAGES", "BENCH_SSE_RATE", "BENCH_SSE_WARMUP",
        "BENCH_DURATION", "BENCH_CONNECTIONS", "BENCH_THREADS", "BENCH_ROUNDS", "BENCH_WARMUP", "BENCH_START_WARMUP", "BENCH_KEYS",
        "BENCH_LIST_CONNECTIONS", "BENCH_REDIS_REQUESTS",
    ];

    public required string Duration { get; init; }
    public required int Connections { get; init; }
    public required int Threads { get; init; }
    public required int Rounds { get; init; }
    public required string Warmup { get; init; }
    public required string StartWarmup { get; init; }
    public required string FreshWarmup { get; init; }
    public required int Keys { get; init; }
    public required int ListConnections { get; init; }
    public required int RedisRequests { get; init; }
    public required int SseSubscribers { get; init; }
    public required int SseMessages { get; init; }
    public required double SseRate { get; init; }
    public required int SseWarmup { get; init; }
    public required string? Doc { get; init; }
    public required string Date { get; init; }
    public required TimeSpan Timeout { get; init; }
    public required IReadOnlyList<string> Scenarios { get; init; }

    /// <summary>The command as a reader would retype it: only the settings given explicitly.</summary>
    public required string Command { get; init; }

    public static BenchSettings FromEnvironment()
    {
        static string Get(string name, string fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : fallback;
        static int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString()));

        var command = "bash bench/run.sh";
        foreach (var knob in Knobs)
        {
            if (Environment.GetEnvironmentVariable(knob) is not { Length: > 0 } value) continue;
            command = value.Contains(' ') ? $"{knob}=\"{value}\" {command}" : $"{knob}={value} {command}";
        }
        var scenarios = Get("BENCH_SCENARIOS", string.Join(' ', AllScenarios)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (scenarios.FirstOrDefault(s => !AllScenarios.Contains(s)) is { } unknown)
            throw new ArgumentException($"unknown scenario '{unknown}' (known: {string.Join(' ', AllScenarios)})");
        return new BenchSettings
        {
            Duration = Get("BENCH_DURATION", "8s"),
            Connections = Int("BENCH_CONNECTIONS", 32),
            Threads = Int("BENCH_THREADS", 2),
            Rounds = Int("BENCH_ROUNDS", 2),
            Warmup = Get("BENCH_WARMUP", "2s"),
            StartWarmup = Get("BENCH_START_WARMUP", "4s"),
            FreshWarmup = Get("BENCH_FRESH_WARMUP", "10s"),
            Keys = Int("BENCH_KEYS", 1_000_000),
            ListConnections = Int("BENCH_LIST_CONNECTIONS", 1),
            RedisRequests = Int("BENCH_REDIS_REQUESTS", 200_000),
            SseSubscribers = Int("BENCH_SSE_SUBSCRIBERS", 1000),
            SseMessages = Int("BENCH_SSE_MESSAGES", 200),
            SseRate = double.Parse(Get("BENCH_SSE_RATE", "20")),
            SseWarmup = Int("BENCH_SSE_WARMUP", 400),
            Doc = Environment.GetEnvironmentVariable("BENCH_DOC") is { Length: > 0 } doc ? Path.GetFullPath(doc) : null,
            Date = Get("BENCH_DATE", DateTime.Now.ToString("yyyy-MM-dd")),
            Timeout = TimeSpan.FromSeconds(Int("BENCH_TIMEOUT", 1800)),
            Scenarios = scenarios,
            Command = command,
        };
    }
}
