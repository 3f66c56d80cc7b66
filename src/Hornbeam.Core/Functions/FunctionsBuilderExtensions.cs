using Hornbeam.Cluster;

// In the root namespace, like HornbeamBuilder, so AddFunction is found without a using.
namespace Hornbeam;

/// <summary>Registering C# functions on the <see cref="HornbeamBuilder"/>.</summary>
public static class FunctionsBuilderExtensions
{
    /// <summary>
    /// Registers a C# function callable by name from any node (Erlang's <c>register_function/2</c>), e.g.
    /// <c>.AddFunction("add", (long a, long b) => a + b)</c>. Arguments bind by position from a JSON array to the
    /// delegate's parameters; a <see cref="CancellationToken"/> parameter gets the call's deadline.
    /// </summary>
    public static HornbeamBuilder AddFunction(this HornbeamBuilder builder, string name, Delegate function)
    {
        builder.Module(RpcModules.FunctionsModule).Add(name, function);
        return builder;
    }
}
