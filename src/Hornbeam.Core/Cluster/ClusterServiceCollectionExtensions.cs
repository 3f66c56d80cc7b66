using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Hornbeam.Cluster;

/// <summary>Registers presence and RPC.</summary>
public static class ClusterServiceCollectionExtensions
{
    /// <summary>Adds presence (heartbeats), the RPC server of this node's request stream and <see cref="IRpcClient"/>.</summary>
    public static IServiceCollection AddHornbeamCluster(this IServiceCollection services)
    {
        services.AddValidatedOptions<ClusterOptions, ClusterOptionsValidator>(ClusterOptions.Section);
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
}
