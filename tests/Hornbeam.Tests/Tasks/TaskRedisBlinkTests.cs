using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Hornbeam.Telemetry;
using Hornbeam.Tests.Hooks;
using Hornbeam.Tests.Infrastructure;
using StackExchange.Redis;

namespace Hornbeam.Tests.Tasks;

/// <summary>A task that finishes while its Redis hangs is still recorded as it ended, once Redis answers again.</summary>
public sealed class TaskRedisBlinkTests(BlinkingRedisHost host) : IClassFixture<BlinkingRedisHost>
{
    [Fact]
    public Task ATaskThatSucceedsWhileRedisHangsEndsSucceededWithItsResultOnceRedisAnswersAgain() =>
        // The end write reaches the frozen server and times out here; it is applied on thaw, and the retry finds it applied.
        SucceedDuringAsync(host.PauseAsync, host.ResumeAsync);

    [Fact]
    public Task ATaskThatSucceedsWhileRedisIsDownEndsSucceededWithItsResultOnceRedisIsRestarted() =>
        // The end write never reaches a server that is gone; only the retry after the restart applies it.
        SucceedDuringAsync(host.KillAsync, host.RestartAsync);

    private async Task SucceedDuringAsync(Func<Task> blink, Func<Task> recover)
    {
        var api = host.Api;
        var client = api.CreateClient();
        var gate = Gates.New();
        var started = await client.PostAsync("/hooks/gate/open/async", Http.Json($$"""{"args": ["{{gate}}"]}"""));
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.ReadJsonAsync()).GetProperty("task_id").GetString()!;

        var retries = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == HornbeamMetrics.Name && instrument.Name == "hornbeam.tasks") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag is { Key: "state", Value: "finish_retried" }) Interlocked.Increment(ref retries);
        });
        listener.Start();

        await blink();
        try
        {
            Gates.For(gate).SetResult(JsonSerializer.SerializeToElement(new { answer = 42 }));
            // The blink lasts until the node has seen its end write fail, so the retry is what records it.
            await Poll.UntilAsync(() => Task.FromResult(Volatile.Read(ref retries) > 0), TimeSpan.FromSeconds(15),
                "the end write failed and is retried");
        }
        finally
        {
            await recover();
        }
        // A waiter during the blink gets a 503 and asks again; this one asks once the node has reconnected.
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(15),
            "the node reconnected");

        var done = await client.GetAsync($"/tasks/{id}?timeout_ms=20000");
        var json = await done.ReadJsonAsync();
        Assert.True(done.StatusCode == HttpStatusCode.OK, json.ToString());
        Assert.Equal("succeeded", json.GetProperty("status").GetString());
        Assert.Equal(42, json.GetProperty("result").GetProperty("answer").GetInt32());
    }
}

/// <summary>
/// One host on a redis-server of its own, which the tests freeze (SIGSTOP) and thaw, or kill and restart with its data
/// (an fsynced append-only file), as a hung or restarted Redis does. The host's Redis calls time out after half a second.
/// </summary>
public sealed class BlinkingRedisHost : IAsyncLifetime
{
    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("hornbeam-tasks-").FullName;
    private LocalRedisProcess _redis = null!;
    private int _pid;

    public HornbeamApiFactory Api { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _redis = await LocalRedisProcess.StartAsync(null, "--appendonly", "yes", "--appendfsync", "always", "--dir", _dataDirectory);
        Api = new HornbeamApiFactory($"{_redis.ConnectionString},asyncTimeout=500", TestPrefix.New(), configure: TestHookSetup.Register);
        var client = Api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the host is ready");
    }

    public async Task DisposeAsync()
    {
        await Api.DisposeAsync();
        _redis.Dispose();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    public async Task PauseAsync()
    {
        _pid = await PidAsync();
        await SignalAsync("-STOP", _pid);
    }

    public Task ResumeAsync() => SignalAsync("-CONT", _pid);

    public Task KillAsync()
    {
        _redis.Stop();
        return Task.CompletedTask;
    }

    public Task RestartAsync() => _redis.RestartAsync();

    private async Task<int> PidAsync()
    {
        await using var probe = await ConnectionMultiplexer.ConnectAsync($"{_redis.ConnectionString},allowAdmin=true");
        var info = await probe.GetServer(_redis.ConnectionString).InfoAsync("server");
        return int.Parse(info.SelectMany(g => g).Single(e => e.Key == "process_id").Value);
    }

    private static async Task SignalAsync(string signal, int pid)
    {
        using var kill = Process.Start("kill", [signal, pid.ToString()]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}
