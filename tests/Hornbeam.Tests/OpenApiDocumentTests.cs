using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests;

/// <summary>openapi.yaml at the repository root is the document the service serves.</summary>
public sealed class OpenApiDocumentTests
{
    [Fact]
    public async Task OpenApiYamlAtTheRootIsTheDocumentTheServiceServes()
    {
        await using var api = await HornbeamApiFactory.StartAsync();
        var served = (await api.CreateClient().GetStringAsync("/openapi/v1.yaml")).ReplaceLineEndings("\n");
        var path = Path.Combine(RepositoryRoot.Path, "openapi.yaml");
        if (Environment.GetEnvironmentVariable("HORNBEAM_UPDATE_OPENAPI") == "1") await File.WriteAllTextAsync(path, served);
        var committed = File.Exists(path) ? (await File.ReadAllTextAsync(path)).ReplaceLineEndings("\n") : "";
        Assert.True(committed == served,
            "openapi.yaml is stale. Regenerate it with: HORNBEAM_UPDATE_OPENAPI=1 dotnet test --filter OpenApiYamlAtTheRootIsTheDocumentTheServiceServes");
    }

    [Fact]
    public async Task SwaggerUiAndTheJsonDocumentAreServed()
    {
        await using var api = await HornbeamApiFactory.StartAsync();
        var client = api.CreateClient();
        Assert.Contains("swagger", await client.GetStringAsync("/swagger/index.html"), StringComparison.OrdinalIgnoreCase);
        var json = await (await client.GetAsync("/openapi/v1.json")).ReadJsonAsync();
        var paths = json.GetProperty("paths");
        foreach (var path in new[] { "/state", "/state/multi", "/state/incr/{key}", "/state/decr/{key}", "/state/{key}" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
    }
}
