using Hornbeam.Cluster;

// In the root namespace, like HornbeamBuilder, so AddModule is found without a using.
namespace Hornbeam;

/// <summary>Registering RPC modules on the <see cref="HornbeamBuilder"/>.</summary>
public static class RpcModuleBuilderExtensions
{
    /// <summary>Offers a module of functions that other nodes call with <c>POST /rpc/{node}/{module}/{function}</c>.</summary>
    public static HornbeamBuilder AddModule(this HornbeamBuilder builder, string module, Action<RpcModuleBuilder> configure)
    {
        RpcModules.ValidateName("module", module);
        if (module is RpcModules.BuiltInModule or RpcModules.FunctionsModule)
            throw new ArgumentException($"module name '{module}' is reserved by Hornbeam.", nameof(module));
        configure(new RpcModuleBuilder(builder, module));
        return builder;
    }

    /// <summary>For Hornbeam's own capabilities (hooks, functions): adds to a module without the reserved-name check.</summary>
    internal static RpcModuleBuilder Module(this HornbeamBuilder builder, string module) => new(builder, module);
}
