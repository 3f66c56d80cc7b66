using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hornbeam.PubSub;

/// <summary>Registers pub/sub: options from <c>Hornbeam:PubSub</c>, <see cref="IPubSub"/> and its count heartbeat.</summary>
internal static class PubSubServiceCollectionExtensions
{
    public static IServiceCollection AddPubSub(this IServiceCollection services)
    {
        services.AddOptions<PubSubOptions>().BindConfiguration(PubSubOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PubSubOptions>, PubSubOptionsValidator>();
        services.TryAddSingleton<RedisPubSub>();
        services.TryAddSingleton<IPubSub>(sp => sp.GetRequiredService<RedisPubSub>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<RedisPubSub>());
        return services;
    }

    private sealed class PubSubOptionsValidator : IValidateOptions<PubSubOptions>
    {
        public ValidateOptionsResult Validate(string? name, PubSubOptions options) =>
            options.Validate() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}
