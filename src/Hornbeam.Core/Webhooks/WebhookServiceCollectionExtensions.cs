using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Hornbeam.Webhooks;

/// <summary>Registers the <see cref="WebhookClient"/> that HTTP functions and HTTP hooks share.</summary>
public static class WebhookServiceCollectionExtensions
{
    /// <summary>Adds <see cref="WebhookOptions"/> and the <see cref="WebhookClient"/> with its named <see cref="HttpClient"/>.</summary>
    public static IServiceCollection AddHornbeamWebhooks(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(WebhookClient))) return services;
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WebhookOptions>, Validator>());
        services.AddHttpClient(WebhookClient.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        services.TryAddSingleton<WebhookClient>();
        return services;
    }

    private sealed class Validator : IValidateOptions<WebhookOptions>
    {
        public ValidateOptionsResult Validate(string? name, WebhookOptions options) =>
            options.Validate() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}
