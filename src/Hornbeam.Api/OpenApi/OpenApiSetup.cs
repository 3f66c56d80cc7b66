using Microsoft.OpenApi;

namespace Hornbeam.Api.OpenApi;

/// <summary>The OpenAPI document (<c>/openapi/v1.json</c>, <c>/openapi/v1.yaml</c>) and Swagger UI (<c>/swagger</c>).</summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddHornbeamOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Hornbeam",
                Version = "v1",
                Description = "Cluster powers for web code over Redis: shared state and atomic counters, RPC between nodes, " +
                              "pub/sub, registered functions, hooks and an inference-result cache. Errors are RFC 7807 ProblemDetails.",
            };
            // The document is the same whichever replica or test host serves it.
            document.Servers = [];
            return Task.CompletedTask;
        }));

    public static IEndpointRouteBuilder MapHornbeamOpenApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapOpenApi("/openapi/{documentName}.yaml");
        app.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint("/openapi/v1.json", "Hornbeam v1");
            options.RoutePrefix = "swagger";
            options.DocumentTitle = "Hornbeam";
        });
        app.MapGet("/", () => TypedResults.Redirect("/swagger")).ExcludeFromDescription();
        return app;
    }
}
