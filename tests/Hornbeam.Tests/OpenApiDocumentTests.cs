using System.Text.Json;
using System.Text.RegularExpressions;
using Hornbeam.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests;

/// <summary>openapi.yaml at the repository root is the document the service serves.</summary>
public sealed class OpenApiDocumentTests(OpenApiDocumentTests.DefaultHost host) : IClassFixture<OpenApiDocumentTests.DefaultHost>
{
    /// <summary>One host with default settings for the class: the tests only read the document and the route table.</summary>
    public sealed class DefaultHost : IAsyncLifetime
    {
        public HornbeamApiFactory Api { get; private set; } = null!;

        public async Task InitializeAsync() => Api = await HornbeamApiFactory.StartAsync();

        public async Task DisposeAsync() => await Api.DisposeAsync();
    }

    [Fact]
    public async Task OpenApiYamlAtTheRootIsTheDocumentTheServiceServes()
    {
        var api = host.Api;
        var served = (await api.CreateClient().GetStringAsync("/openapi/v1.yaml")).ReplaceLineEndings("\n");
        var path = Path.Combine(RepositoryRoot.Path, "openapi.yaml");
        if (Environment.GetEnvironmentVariable("HORNBEAM_UPDATE_OPENAPI") == "1") await File.WriteAllTextAsync(path, served);
        var committed = File.Exists(path) ? (await File.ReadAllTextAsync(path)).ReplaceLineEndings("\n") : "";
        Assert.True(committed == served,
            "openapi.yaml is stale. Regenerate it with: " +
            "HORNBEAM_UPDATE_OPENAPI=1 dotnet test --filter OpenApiYamlAtTheRootIsTheDocumentTheServiceServes");
    }

    [Fact]
    public async Task EveryRouteTheServiceAnswersIsInTheOpenApiDocument()
    {
        var api = host.Api;
        var paths = (await (await api.CreateClient().GetAsync("/openapi/v1.json")).ReadJsonAsync()).GetProperty("paths");
        var missing = new List<string>();
        foreach (var endpoint in api.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            // Left out on purpose: the redirect from / to Swagger UI and the document's own routes.
            if (endpoint.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is { ExcludeFromDescription: true }) continue;
            // As the document writes routes: "{key}" for a catch-all "{**key}" or a constrained "{key:int}", no trailing slash.
            var route = "/" + Regex.Replace(endpoint.RoutePattern.RawText!, @"\{\*{0,2}(\w+)[^}]*\}", "{$1}").Trim('/');
            if (route.StartsWith("/openapi/")) continue;
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            // HEAD is the GET without a body (Hosting/HeadRequests.cs); the document describes the GET.
            foreach (var method in methods.Where(m => m != "HEAD"))
                if (!paths.TryGetProperty(route, out var item) || !item.TryGetProperty(method.ToLowerInvariant(), out _))
                    missing.Add($"{method} {route}");
        }
        Assert.True(missing.Count == 0, "Not in the OpenAPI document: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task SwaggerUiAndTheJsonDocumentAreServed()
    {
        var api = host.Api;
        var client = api.CreateClient();
        Assert.Contains("swagger", await client.GetStringAsync("/swagger/index.html"), StringComparison.OrdinalIgnoreCase);
        var json = await (await client.GetAsync("/openapi/v1.json")).ReadJsonAsync();
        var paths = json.GetProperty("paths");
        foreach (var path in new[] { "/state", "/state/multi", "/state/incr/{key}", "/state/decr/{key}", "/state/{key}" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
    }

    private async Task<JsonElement> DocumentAsync() => await (await host.Api.CreateClient().GetAsync("/openapi/v1.json")).ReadJsonAsync();

    private static IEnumerable<(string Name, JsonElement Operation)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(o => o.Value.ValueKind == JsonValueKind.Object && o.Value.TryGetProperty("responses", out _))
            .Select(o => ($"{o.Name.ToUpperInvariant()} {path.Name}", o.Value)));

    private static bool HasHeader(JsonElement response, string header) =>
        response.TryGetProperty("headers", out var headers) && headers.TryGetProperty(header, out _);

    [Fact]
    public async Task EveryRouteThatNeedsAKeyDescribesItsAccessAnswersAndTheirHeaders()
    {
        var wrong = new List<string>();
        foreach (var (name, operation) in Operations(await DocumentAsync()))
        {
            if (!operation.TryGetProperty("security", out var security) || security.GetArrayLength() == 0) continue;
            var responses = operation.GetProperty("responses");
            foreach (var status in new[] { "401", "403", "429" })
                if (!responses.TryGetProperty(status, out var r)
                    || !r.GetProperty("content").TryGetProperty("application/problem+json", out _))
                    wrong.Add($"{name} {status}");
            if (responses.TryGetProperty("401", out var unauthorized) && !HasHeader(unauthorized, "WWW-Authenticate"))
                wrong.Add($"{name} 401 WWW-Authenticate");
            if (responses.TryGetProperty("429", out var limited) && !HasHeader(limited, "Retry-After"))
                wrong.Add($"{name} 429 Retry-After");
        }
        Assert.True(wrong.Count == 0, "Missing: " + string.Join(", ", wrong));
    }

    [Fact]
    public async Task EveryProblem503SaysRetryAfterAndEveryTask202SaysLocation()
    {
        var wrong = new List<string>();
        var located = new List<string>();
        foreach (var (name, operation) in Operations(await DocumentAsync()))
        {
            var responses = operation.GetProperty("responses");
            if (responses.TryGetProperty("503", out var outage) && outage.TryGetProperty("content", out var content)
                && content.TryGetProperty("application/problem+json", out _) && !HasHeader(outage, "Retry-After"))
                wrong.Add($"{name} 503 Retry-After");
            if (responses.TryGetProperty("202", out var accepted) && accepted.TryGetProperty("content", out _))
            {
                if (HasHeader(accepted, "Location")) located.Add(operation.GetProperty("operationId").GetString()!);
                else wrong.Add($"{name} 202 Location");
            }
        }
        Assert.True(wrong.Count == 0, "Missing: " + string.Join(", ", wrong));
        Assert.Equal(["HooksExecuteAsync", "TasksAwait"], located.Order());
    }

    [Theory]
    [InlineData("/state/{key}", "put", "204", "StateGet", "key", "$request.path.key")]
    [InlineData("/hooks/{app_path}/{action}/async", "post", "202", "TasksAwait", "task_id", "$response.body#/task_id")]
    [InlineData("/tasks/{task_id}", "get", "202", "TasksAwait", "task_id", "$response.body#/task_id")]
    public async Task StatefulFlowsAreLinkedToWhereTheirResultIsRead(string path, string method, string status, string target,
        string parameter, string expression)
    {
        var document = await DocumentAsync();
        var link = document.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses").GetProperty(status)
            .GetProperty("links").GetProperty(target);
        Assert.Equal(target, link.GetProperty("operationId").GetString());
        Assert.Equal(expression, link.GetProperty("parameters").GetProperty(parameter).GetString());
        Assert.Contains(Operations(document), o => o.Operation.TryGetProperty("operationId", out var id) && id.GetString() == target);
    }

    [Theory]
    [InlineData("/pubsub/{topic}", "get", "message,subscribed,gap,overflow,reconnect")]
    [InlineData("/hooks/{app_path}/{action}/stream", "post", "chunk,done,error")]
    public async Task EventStreamsAreDescribedByTheEventsSent(string path, string method, string events)
    {
        var document = await DocumentAsync();
        var schemas = document.GetProperty("components").GetProperty("schemas");
        JsonElement Resolve(JsonElement schema) =>
            schema.TryGetProperty("$ref", out var reference) ? schemas.GetProperty(reference.GetString()!.Split('/')[^1]) : schema;
        var stream = Resolve(document.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses").GetProperty("200")
            .GetProperty("content").GetProperty("text/event-stream").GetProperty("schema"));
        var names = stream.GetProperty("oneOf").EnumerateArray().Select(e => Resolve(e).GetProperty("properties").GetProperty("event")
            .GetProperty("const").GetString()).Order();
        Assert.Equal(events.Split(',').Order(), names);
        Assert.DoesNotContain(schemas.EnumerateObject(), s => s.Name.StartsWith("SseItem", StringComparison.Ordinal));
    }
}
