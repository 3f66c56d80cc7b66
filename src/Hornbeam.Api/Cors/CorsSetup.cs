using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Cors;

/// <summary>
/// Lets pages on the configured origins call the API from a browser, with ASP.NET Core's CORS middleware. The policy
/// never allows credentials: keys travel in headers, not cookies, so a page needs none, and with <c>*</c> it could have
/// none anyway.
/// </summary>
public static class CorsSetup
{
    // Beyond the CORS-safelisted headers, what pages send: a key, a JSON body, a retry's key, an EventSource's resume point.
    private static readonly string[] RequestHeaders = ["Authorization", "X-Api-Key", "Content-Type", "Idempotency-Key", "Last-Event-ID"];

    // Beyond the safelisted response headers, what a page reads: where a task is, when to retry, how to sign in.
    private static readonly string[] ResponseHeaders = ["Location", "Retry-After", "WWW-Authenticate"];

    public static IServiceCollection AddHornbeamCors(this IServiceCollection services)
    {
        services.AddOptions<HornbeamCorsOptions>().BindConfiguration(HornbeamCorsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HornbeamCorsOptions>, HornbeamCorsOptionsValidator>();
        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<HornbeamCorsOptions>>((cors, hornbeam) =>
            cors.AddDefaultPolicy(policy => Allow(policy, hornbeam.Value)));
        return services;
    }

    /// <summary>
    /// Before access control: the middleware answers a preflight (OPTIONS) itself, so it is never refused for want of a
    /// key nor counted against a rate limit, and its headers are on every answer, a 401 or 429 included.
    /// </summary>
    public static WebApplication UseHornbeamCors(this WebApplication app)
    {
        // Without origins the middleware is left out: no CORS header anywhere, and OPTIONS is routed as any other method.
        if (app.Services.GetRequiredService<IOptions<HornbeamCorsOptions>>().Value.AllowedOrigins.Count > 0) app.UseCors();
        return app;
    }

    private static void Allow(CorsPolicyBuilder policy, HornbeamCorsOptions options)
    {
        if (options.AllowsAnyOrigin) policy.AllowAnyOrigin();
        else policy.WithOrigins([.. options.AllowedOrigins]);
        policy.WithMethods("GET", "HEAD", "POST", "PUT", "DELETE")
            .WithHeaders(RequestHeaders)
            .WithExposedHeaders(ResponseHeaders)
            .SetPreflightMaxAge(TimeSpan.FromSeconds(options.PreflightMaxAgeSeconds));
    }
}
