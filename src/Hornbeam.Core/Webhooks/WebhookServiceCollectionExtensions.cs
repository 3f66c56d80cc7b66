using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hornbeam.Webhooks;

/// <summary>Registers the <see cref="WebhookClient"/> that HTTP functions and HTTP hooks share.</summary>
public static class WebhookServiceCollectionExtensions
{
    /// <summary>Adds <see cref="WebhookOptions"/> and the <see cref="WebhookClient"/> with its named <see cref="HttpClient"/>.</summary>
    public static IServiceCollection AddHornbeamWebhooks(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(WebhookClient))) return services;
        services.AddValidatedOptions<WebhookOptions, WebhookOptionsValidator>(WebhookOptions.Section);
        services.AddHttpClient(WebhookClient.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        services.TryAddSingleton<WebhookClient>();
        return services;
    }
}
