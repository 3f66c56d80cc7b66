using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Hornbeam.PubSub;

/// <summary>Registers pub/sub: options from <c>Hornbeam:PubSub</c>, <see cref="IPubSub"/> and its count heartbeat.</summary>
internal static class PubSubServiceCollectionExtensions
{
    public static IServiceCollection AddPubSub(this IServiceCollection services)
    {
        services.AddValidatedOptions<PubSubOptions, PubSubOptionsValidator>(PubSubOptions.Section);
        services.TryAddSingleton<RedisPubSub>();
        services.TryAddSingleton<IPubSub>(sp => sp.GetRequiredService<RedisPubSub>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<RedisPubSub>());
        return services;
    }
}
