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
            "openapi.yaml is stale. Regenerate it with: HORNBEAM_UPDATE_OPENAPI=1 dotnet test --filter OpenApiYamlAtTheRootIsTheDocumentTheServiceServes");
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
            foreach (var method in methods)
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
}
