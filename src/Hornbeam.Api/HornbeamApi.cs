using Hornbeam.Api.Hosting;
using Hornbeam.Api.Json;
using Hornbeam.Api.Problems;

namespace Hornbeam.Api;

/// <summary>What every route shares: JSON settings, the error model and request binding behaviour.</summary>
public static class HornbeamApi
{
    public static IServiceCollection AddHornbeamApi(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, HornbeamJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, Hooks.HooksJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, Ml.MlJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, PubSub.PubSubJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(2, Cluster.ClusterJsonContext.Default);
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            // Numbers are numbers: the OpenAPI document then says "integer", not "integer or string".
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<HornbeamOptions>>((kestrel, hornbeam) =>
            {
                kestrel.Limits.MaxRequestBodySize = hornbeam.Value.MaxRequestBodyBytes;
                kestrel.AddServerHeader = false;
            });
        // Before AddProblemDetails: the first writer that can write is the one used, and this one writes whatever the Accept.
        services.AddSingleton<IProblemDetailsWriter, ProblemDetailsJsonWriter>();
        services.AddProblemDetails(o => o.CustomizeProblemDetails = StatusCodeDetails.Fill);
        services.AddExceptionHandler<HornbeamExceptionHandler>();
        // Binding failures become exceptions so the handler can answer them with a ProblemDetails that says what was wrong.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    public static WebApplication UseHornbeamApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        if (app.Services.GetService<EmbeddedGarnet>() is { } embedded) EmbeddedGarnet.LogNotice(app.Logger, embedded.Port);
        return app;
    }
}
