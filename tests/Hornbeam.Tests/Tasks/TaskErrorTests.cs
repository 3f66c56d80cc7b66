using System.Net;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hornbeam.Tests.Tasks;

/// <summary>
/// A failed task keeps its error kind: stored as the problem type URN, answered with the type and status the synchronous call
/// answers.
/// </summary>
public sealed class TaskErrorTests(RefusingHookHost host) : IClassFixture<RefusingHookHost>
{
    public static TheoryData<HornbeamError> Kinds() => new(Enum.GetValues<HornbeamError>());

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task EveryErrorKindAHookThrowsIsAnsweredForItsTaskAsTheSynchronousCallAnswersIt(HornbeamError kind)
    {
        var api = await host.Api;
        var client = api.CreateClient();
        var code = HornbeamErrors.Code(kind);
        var started = await client.PostAsync($"/hooks/refuse/{code}/async", null);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.ReadJsonAsync()).GetProperty("task_id").GetString()!;

        var (status, type) = (HornbeamErrors.Status(kind), HornbeamErrors.Type(kind));
        var problem = await (await client.GetAsync($"/tasks/{id}?timeout_ms=10000")).AssertProblemAsync(status, type);
        Assert.Equal($"refused as {code}", problem.GetProperty("detail").GetString());
        Assert.Equal("failed", problem.GetProperty("task_status").GetString());
        await (await client.PostAsync($"/hooks/refuse/{code}", null)).AssertProblemAsync(status, type);

        var stored = await Db(api).HashGetAllAsync(new RedisKeys(api.Prefix).Task(id));
        Assert.Equal(type, stored.Single(e => e.Name == "error_type").Value.ToString());
        Assert.Equal(status.ToString(), stored.Single(e => e.Name == "error_status").Value.ToString());
        Assert.DoesNotContain(stored, e => e.Name == "error_kind");

        var awaited = await api.Services.GetRequiredService<IHooks>().AwaitResultAsync(id, TimeSpan.FromSeconds(1));
        Assert.Equal(kind, Assert.Throws<HornbeamException>(() => awaited.GetResultOrThrow()).Error);
    }

    [Fact]
    public async Task ATaskRecordedWithTheErrorKindsEnumNameIsStillAnsweredAsThatKind()
    {
        // What a node of an earlier version left behind.
        var api = await host.Api;
        var id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        await Db(api).HashSetAsync(new RedisKeys(api.Prefix).Task(id),
            [
                new("status", "failed"), new("node", "old@node"), new("error_kind", nameof(HornbeamError.Conflict)),
                new("error", "stored before the URN"),
            ]);
        var problem = await (await api.CreateClient().GetAsync($"/tasks/{id}?timeout_ms=0")).AssertProblemAsync(409, ProblemTypes.Conflict);
        Assert.Equal("stored before the URN", problem.GetProperty("detail").GetString());
    }

    private static IDatabase Db(HornbeamApiFactory api) => api.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
}

/// <summary>One host with a hook whose action names the error kind it throws (its problem code, e.g. <c>conflict</c>).</summary>
public sealed class RefusingHookHost : IAsyncLifetime
{
    private readonly Lazy<Task<HornbeamApiFactory>> _api = new(() => HornbeamApiFactory.StartAsync(configure: hornbeam => hornbeam
        .AddHook("refuse", (action, args, kwargs) =>
            HornbeamErrors.TryParse(action, out var kind) ? throw new HornbeamException(kind, $"refused as {action}") : (object?)action)));

    public Task<HornbeamApiFactory> Api => _api.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_api.IsValueCreated) await (await _api.Value).DisposeAsync();
    }
}
