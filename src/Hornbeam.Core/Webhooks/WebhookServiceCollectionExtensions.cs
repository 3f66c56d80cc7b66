using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Timeout;

namespace Hornbeam.Webhooks;

/// <summary>Registers the <see cref="WebhookClient"/> that HTTP functions and HTTP hooks share.</summary>
public static class WebhookServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="WebhookOptions"/> and the <see cref="WebhookClient"/> with its named <see cref="HttpClient"/>: no
    /// redirects, no cookies, no proxy, connections only to addresses the allow-list allows, and a resilience pipeline per
    /// host (a circuit breaker around each call's timeout).
    /// </summary>
    public static IServiceCollection AddHornbeamWebhooks(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(WebhookClient))) return services;
        services.AddValidatedOptions<WebhookOptions, WebhookOptionsValidator>(WebhookOptions.Section);
        services.TryAddTransient<WebhookBodyHandler>();

        // Redirects are not followed: one could lead off the allow-list. The pipeline's timeout is the only deadline.
        // The allow-list connects (resolve once, check, connect to that address); a proxy would resolve the host itself.
        var http = services.AddHttpClient(WebhookClient.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(provider =>
            {
                var allowList = new WebhookAllowList(provider.GetRequiredService<IOptions<WebhookOptions>>().Value.AllowedHosts);
                return new SocketsHttpHandler
                {
                    AllowAutoRedirect = false,
                    UseCookies = false,
                    UseProxy = false,
                    ConnectCallback = (context, ct) =>
                        allowList.ConnectAsync(context.InitialRequestMessage.RequestUri!, context.DnsEndPoint, ct),
                };
            });
        http.AddResilienceHandler("webhooks", (pipeline, context) =>
            {
                var options = context.ServiceProvider.GetRequiredService<IOptions<WebhookOptions>>().Value;
                // No retry strategy, on purpose: webhook calls are POSTs that may apply something, and a retry could apply it twice.
                pipeline
                    .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                    {
                        FailureRatio = options.CircuitFailureRatio,
                        MinimumThroughput = options.CircuitMinimumThroughput,
                        SamplingDuration = options.CircuitSamplingDuration,
                        BreakDuration = options.CircuitBreakDuration,
                        ShouldHandle = args => ValueTask.FromResult(IsFailure(args.Outcome)),
                    })
                    .AddTimeout(new HttpTimeoutStrategyOptions
                    {
                        TimeoutGenerator = args => ValueTask.FromResult(WebhookClient.TimeoutOf(args.Context)),
                    });
            })
            .SelectPipelineByAuthority();
        // Inside the pipeline, so a single answer's body is read under the same timeout.
        http.AddHttpMessageHandler<WebhookBodyHandler>();
        services.TryAddSingleton<WebhookClient>();
        return services;
    }

    // What says a host is unwell: it cannot be reached, does not answer in time, or answers 5xx. A caller giving up does not
    // count, nor a connection the allow-list refused.
    private static bool IsFailure(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: HttpRequestException { InnerException: HornbeamException { Error: HornbeamError.Forbidden } } } => false,
        { Exception: HttpRequestException or TimeoutRejectedException } => true,
        { Result: { } response } => response.StatusCode >= HttpStatusCode.InternalServerError,
        _ => false,
    };
}
