using Hornbeam.Cluster;
using Hornbeam.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hornbeam.Functions;

/// <summary>Registers functions: the service at start-up, and the user's C# functions on the builder.</summary>
public static class FunctionsServiceCollectionExtensions
{
    /// <summary>Adds <see cref="IFunctions"/> and the webhook client that calls HTTP functions.</summary>
    public static IServiceCollection AddHornbeamFunctions(this IServiceCollection services)
    {
        services.AddHornbeamWebhooks();
        services.TryAddSingleton<IFunctions, FunctionService>();
        return services;
    }
}
