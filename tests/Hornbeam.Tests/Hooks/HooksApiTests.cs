using System.Net;
using System.Text.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Hooks;

/// <summary>execute over REST: the three handler kinds, argument binding, and errors.</summary>
[Trait("Redis", "Cluster")]
public sealed class HooksApiTests(HooksHost host) : IClassFixture<HooksHost>
{
    private static Task<HornbeamApiFactory> StartAsync(string? prefix = null, IDictionary<string, string?>? settings = null) =>
        HornbeamApiFactory.StartAsync(prefix, settings, TestHookSetup.Register);

    // Tests that only execute share one host; each is still independent of the others' calls.
    private Task<HornbeamApiFactory> SharedAsync() => host.Api;

    private static async Task<JsonElement> ExecuteAsync(HttpClient client, string path, string body = "{}")
    {
        var response = await client.PostAsync(path, Http.Json(body));
        var json = await response.ReadJsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {json}");
        return json.GetProperty("result");
    }

    [Fact]
    public async Task AFunctionHookGetsTheActionArgsAndKwargs()
    {
        var api = await SharedAsync();
        var client = api.CreateClient();
        var result = await ExecuteAsync(client, "/hooks/echo/args", """{"args": [1, "two"], "kwargs": {"three": [3]}}""");
        Assert.Equal("args", result.GetProperty("action").GetString());
        Assert.Equal("""[1,"two"]""", result.GetProperty("args").GetRawText());
        Assert.Equal(3, result.GetProperty("kwargs").GetProperty("three")[0].GetInt32());
        Assert.Equal(6, (await ExecuteAsync(client, "/hooks/echo/add", """{"args": [1, 2, 3]}""")).GetInt64());
    }

    [Fact]
    public async Task AClassHookIsBuiltPerCallThroughDiAndItsMethodsAreFoundBySnakeCaseActions()
    {
        var api = await SharedAsync();
        var client = api.CreateClient();
        Assert.Equal("[5,1]", (await ExecuteAsync(client, "/hooks/embeddings/encode", """{"args": ["Hello"]}""")).GetRawText());
        Assert.Equal(11, (await ExecuteAsync(client, "/hooks/embeddings/similarity", """{"args": [[1, 2], [3, 4]]}""")).GetDouble());
        var node = api.Services.GetRequiredService<Hornbeam.Cluster.NodeIdentity>().Name;
        Assert.Equal(node, (await ExecuteAsync(client, "/hooks/embeddings/where_am_i")).GetString());
        var disposedBefore = EmbeddingService.Disposed;
        await ExecuteAsync(client, "/hooks/embeddings/encode", """{"args": ["x"]}""");
        Assert.True(EmbeddingService.Disposed > disposedBefore, "a per-call instance is disposed after the call");
    }

    [Fact]
    public async Task KwargsBindByNameIncludingSnakeCaseForCamelCaseParametersAndDefaultsFillTheRest()
    {
        var api = await SharedAsync();
        var client = api.CreateClient();
        Assert.Equal("hello Ann", (await ExecuteAsync(client, "/hooks/embeddings/greet", """{"args": ["Ann"]}""")).GetString());
        Assert.Equal("hi Ann hi Ann",
            (await ExecuteAsync(client, "/hooks/embeddings/greet", """{"args": ["Ann"], "kwargs": {"greeting": "hi", "times": 2}}"""))
                .GetString());
        var settings = await ExecuteAsync(client, "/hooks/embeddings/get_settings", """{"kwargs": {"max_tokens": 64, "verbose": true}}""");
        Assert.Equal(64, settings.GetProperty("max_tokens").GetInt32());
        Assert.True(settings.GetProperty("verbose").GetBoolean());
    }

    [Fact]
    public async Task AnInstanceHookKeepsItsStateAcrossCalls()
    {
        var api = await SharedAsync();
        var client = api.CreateClient();
        var first = (await ExecuteAsync(client, "/hooks/counter/increment")).GetInt32();
        Assert.Equal(first + 10, (await ExecuteAsync(client, "/hooks/counter/increment", """{"kwargs": {"by": 10}}""")).GetInt32());
    }

    [Theory]
    [InlineData("""{"args": ["a", "b", "c", "d"]}""", "takes 3 argument(s)")]
    [InlineData("""{"kwargs": {"nope": 1}}""", "has no parameter 'nope'")]
    [InlineData("""{"args": [5]}""", "parameter 'name' expects String")]
    [InlineData("""{"kwargs": {"greeting": "hi"}}""", "missing parameter 'name'")]
    [InlineData("""{"args": ["Ann"], "kwargs": {"name": "Bo"}}""", "given both by position and by name")]
    public async Task ArgumentsThatDoNotFitGet400NamingHookActionAndParameter(string body, string expected)
    {
        var api = await SharedAsync();
        var problem = await (await api.CreateClient().PostAsync("/hooks/embeddings/greet", Http.Json(body)))
            .AssertProblemAsync(400, ProblemTypes.InvalidInput);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("Hook 'embeddings' action 'greet'", detail);
        Assert.Contains(expected, detail);
    }

    [Fact]
    public async Task UnknownHooksAndActionsAre404AndAFailingHandlerIsAProblemWithItsMessage()
    {
        var api = await SharedAsync();
        var client = api.CreateClient();
        var noHook = await (await client.PostAsync("/hooks/nope/x", Http.Json("{}"))).AssertProblemAsync(404, ProblemTypes.NotFound);
        Assert.Contains("'nope'", noHook.GetProperty("detail").GetString());
        var noAction = await (await client.PostAsync("/hooks/embeddings/decode", Http.Json("{}")))
            .AssertProblemAsync(404, ProblemTypes.NotFound);
        Assert.Contains("no action 'decode'", noAction.GetProperty("detail").GetString());
        await (await client.PostAsync("/hooks/echo/nope", Http.Json("{}"))).AssertProblemAsync(404, ProblemTypes.NotFound);

        var failed = await (await client.PostAsync("/hooks/embeddings/fail", Http.Json("""{"args": ["disk on fire"]}""")))
            .AssertProblemAsync(500, ProblemTypes.HandlerFailed);
        Assert.Contains("disk on fire", failed.GetProperty("detail").GetString());
        Assert.Contains("'embeddings' action 'fail'", failed.GetProperty("detail").GetString());
        await (await client.PostAsync("/hooks/echo/fail", Http.Json("{}"))).AssertProblemAsync(500, ProblemTypes.HandlerFailed);
    }

    [Fact]
    public async Task TheBodyIsOptionalButMustBeAnObjectAndNamesAreOneSegment()
    {
        var api = await SharedAsync();
        var client = api.CreateClient();
        Assert.Equal(0, (await (await client.PostAsync("/hooks/echo/add", null)).ReadJsonAsync()).GetProperty("result").GetInt64());
        await (await client.PostAsync("/hooks/echo/add", Http.Json("[1]"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync("/hooks/echo/add", Http.Json("{\"args\": 1}"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
        await (await client.PostAsync("/hooks/ec%20ho/add", Http.Json("{}"))).AssertProblemAsync(400, ProblemTypes.InvalidInput);
    }

    [Fact]
    public async Task RegisteringAgainReplacesAndUnregisteringRemoves()
    {
        await using var api = await StartAsync();
        var client = api.CreateClient();
        var registry = api.Services.GetRequiredService<HookRegistry>();
        registry.Register("later", (_, _, _, _) => Task.FromResult<object?>("first"));
        Assert.Equal("first", (await ExecuteAsync(client, "/hooks/later/x")).GetString());
        registry.RegisterInstance("later", new Counter());
        Assert.Equal(1, (await ExecuteAsync(client, "/hooks/later/increment")).GetInt32());
        Assert.True(registry.Unregister("later"));
        await (await client.PostAsync("/hooks/later/increment", Http.Json("{}"))).AssertProblemAsync(404, ProblemTypes.NotFound);
    }

    [Fact]
    public async Task TheListNamesEveryHookItsKindAndWhereItRuns()
    {
        var api = await SharedAsync();
        var node = api.Services.GetRequiredService<Hornbeam.Cluster.NodeIdentity>().Name;
        var list = (await (await api.CreateClient().GetAsync("/hooks")).ReadJsonAsync()).GetProperty("hooks").EnumerateArray()
            .ToDictionary(h => h.GetProperty("app_path").GetString()!);
        Assert.Equal("class", list["embeddings"].GetProperty("kind").GetString());
        Assert.Equal("instance", list["counter"].GetProperty("kind").GetString());
        Assert.Equal("function", list["echo"].GetProperty("kind").GetString());
        Assert.Equal(node, list["echo"].GetProperty("nodes")[0].GetString());
    }

    [Fact]
    public async Task CoreCallersExecuteWithTypedArguments()
    {
        var api = await SharedAsync();
        var hooks = api.Services.GetRequiredService<IHooks>();
        var result = await hooks.ExecuteAsync("embeddings", "greet", HookArgs.From("Cy").With("times", 2));
        Assert.Equal("hello Cy hello Cy", result.GetString());
    }
}

/// <summary>One API host with the test hooks, shared by a test class.</summary>
public sealed class HooksHost : IAsyncLifetime
{
    private readonly Lazy<Task<HornbeamApiFactory>> _api = new(() => HornbeamApiFactory.StartAsync(configure: TestHookSetup.Register));

    public Task<HornbeamApiFactory> Api => _api.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_api.IsValueCreated) await (await _api.Value).DisposeAsync();
    }
}
