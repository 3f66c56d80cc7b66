using Hornbeam.Telemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hornbeam.Api.Telemetry;

/// <summary>
/// OpenTelemetry traces (HTTP in and out, Redis, Hornbeam's own spans) and metrics, scraped by Prometheus at
/// <c>/metrics</c>.
/// </summary>
public static class TelemetrySetup
{
    public static IServiceCollection AddHornbeamTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        // Spans cost time on every request; record them only when something will receive them.
        var tracing = otlp || configuration.GetValue<bool>("Hornbeam:Telemetry:Tracing");
        var telemetry = services.AddOpenTelemetry().ConfigureResource(r => r.AddService("hornbeam"));
        if (tracing)
            telemetry.WithTracing(t =>
            {
                // AddRedisInstrumentation() instruments the IConnectionMultiplexer that AddHornbeam registers.
                t.AddSource(HornbeamMetrics.Name).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddRedisInstrumentation();
                if (otlp) t.AddOtlpExporter();
            });
        telemetry.WithMetrics(m =>
            {
                // ASP.NET Core's own meters by name rather than AddAspNetCoreInstrumentation(), which also adds the routing
                // and memory-pool meters and a middleware: per-request counters the duration histogram already answers.
                m.AddMeter(HornbeamMetrics.Name).AddMeter(AspNetCoreMeters).AddHttpClientInstrumentation().AddPrometheusExporter()
                    .AddView("http.server.active_requests", MetricStreamConfiguration.Drop);
                if (otlp) m.AddOtlpExporter();
            });
        return services;
    }

    public static WebApplication MapHornbeamTelemetry(this WebApplication app)
    {
        // A plain request delegate, not a route handler: the OpenAPI document describes it by hand (OpenApiSetup.AddMetrics).
        // It maps every method; only GET is answered, anything else is a 405 naming it in Allow.
        app.MapPrometheusScrapingEndpoint("/metrics").WithName("Metrics")
            .WithMetadata(new Microsoft.AspNetCore.Routing.HttpMethodMetadata([HttpMethods.Get]));
        return app;
    }

    /// <summary>Request duration, connections, handled exceptions and rate-limit leases.</summary>
    internal static readonly string[] AspNetCoreMeters =
        ["Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Diagnostics",
            "Microsoft.AspNetCore.RateLimiting"];
}
