using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hornbeam.Cluster;

/// <summary>Registers presence and RPC.</summary>
public static class ClusterServiceCollectionExtensions
{
    /// <summary>Adds presence (heartbeats), the RPC server of this node's request stream and <see cref="IRpcClient"/>.</summary>
    public static IServiceCollection AddHornbeamCluster(this IServiceCollection services)
    {
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>());
        services.TryAddSingleton(sp => new RpcModules(sp.GetServices<RpcFunctionRegistration>(), sp.GetRequiredService<NodeIdentity>()));
        services.TryAddSingleton<RpcServer>();
        services.TryAddSingleton<ClusterPresence>();
        services.TryAddSingleton<IClusterPresence>(sp => sp.GetRequiredService<ClusterPresence>());
        services.TryAddSingleton<RpcClient>();
        services.TryAddSingleton<IRpcClient>(sp => sp.GetRequiredService<RpcClient>());
        // Order matters: the node can take requests and replies before presence announces it, and leaves before it stops serving.
        services.AddHostedService(sp => sp.GetRequiredService<RpcServer>());
        services.AddHostedService(sp => sp.GetRequiredService<RpcClient>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterPresence>());
        return services;
    }

    private sealed class ClusterOptionsValidator : IValidateOptions<ClusterOptions>
    {
        public ValidateOptionsResult Validate(string? name, ClusterOptions options) =>
            options.Validate() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}
