using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Hooks;
using Hornbeam.Telemetry;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Cluster;

/// <summary>
/// Hornbeam's own spans: an RPC call is one trace across the two replicas, the handler's span a child of the caller's;
/// a task's run and the hook it runs are spans too.
/// </summary>
public sealed class TracingTests
{
    [Fact]
    public async Task ACallToAnotherReplicaIsAClientSpanThereAndAServerSpanChildOfItHere()
    {
        // Replica names unique to this test: the listener hears every test's spans.
        var (a, b) = ($"a-{Guid.NewGuid():N}", $"b-{Guid.NewGuid():N}");
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == HornbeamMetrics.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("hornbeam.node") is string node && (node == b || node == a)) stopped.Enqueue(activity);
            },
        };
        ActivitySource.AddActivityListener(listener);

        var prefix = TestPrefix.New();
        await using var caller = await ClusterNodes.StartAsync(prefix, a);
        await using var callee = await ClusterNodes.StartAsync(prefix, b,
            h => h.AddModule("tracing", m => m.Add("square", (long x) => x * x)));
        await ClusterNodes.UntilSeesAsync(caller.CreateClient(), b);

        var rpc = caller.Services.GetRequiredService<IRpcClient>();
        Assert.Equal(49,
            (await rpc.CallAsync(b, "tracing", "square", [JsonSerializer.SerializeToElement(7)], TimeSpan.FromSeconds(10))).GetInt64());

        // The server span stops before its reply is sent, the client span once the reply is in: both are there now.
        var client = Assert.Single(stopped, s => s.Kind == ActivityKind.Client);
        var server = Assert.Single(stopped, s => s.Kind == ActivityKind.Server);
        Assert.Equal("rpc.call tracing.square", client.DisplayName);
        Assert.Equal("rpc.call tracing.square", server.DisplayName);
        Assert.Equal(b, client.GetTagItem("hornbeam.node"));
        Assert.Equal(a, server.GetTagItem("hornbeam.rpc.from"));
        Assert.Equal(client.TraceId, server.TraceId);
        Assert.Equal(client.SpanId, server.ParentSpanId);
        Assert.Equal(ActivityStatusCode.Unset, server.Status);
    }

    [Fact]
    public async Task ATaskRunIsASpanAndTheHookItRunsItsChild()
    {
        var appPath = $"traced-{Guid.NewGuid():N}";
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == HornbeamMetrics.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (Equals(activity.GetTagItem("hornbeam.hook.app_path"), appPath)) stopped.Enqueue(activity);
            },
        };
        ActivitySource.AddActivityListener(listener);

        await using var api = await HornbeamApiFactory.StartAsync(
            configure: h => h.AddHook(appPath, (action, args, _) => args.Sum(a => a.GetInt64())));
        var hooks = api.Services.GetRequiredService<IHooks>();
        var id = await hooks.ExecuteInBackgroundAsync(appPath, "add", HookArgs.From(2, 3));
        Assert.Equal(5, (await hooks.AwaitResultAsync(id, TimeSpan.FromSeconds(10))).GetResultOrThrow().GetInt64());

        await Poll.UntilAsync(() => Task.FromResult(stopped.Count >= 2), TimeSpan.FromSeconds(10), "the task's span has stopped");
        var task = Assert.Single(stopped, s => s.DisplayName == $"task {appPath}.add");
        var hook = Assert.Single(stopped, s => s.DisplayName == $"hook {appPath}.add");
        Assert.Equal(id, task.GetTagItem("hornbeam.task.id"));
        Assert.Equal(task.SpanId, hook.ParentSpanId);
        Assert.Equal(task.TraceId, hook.TraceId);
    }
}
