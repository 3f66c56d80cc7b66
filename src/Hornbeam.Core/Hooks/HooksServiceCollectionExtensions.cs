using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Tasks;
using Hornbeam.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Hornbeam.Hooks;

/// <summary>Registers hooks and async tasks, and the builder methods that add C# hooks at start-up.</summary>
public static class HooksServiceCollectionExtensions
{
    internal static IServiceCollection AddHooks(this IServiceCollection services)
    {
        services.AddValidatedOptions<HookOptions, HookOptionsValidator>(HookOptions.Section);
        services.AddValidatedOptions<TaskOptions, TaskOptionsValidator>(TaskOptions.Section);
        services.AddHornbeamWebhooks();

        services.TryAddSingleton(sp => new HookRegistry(sp.GetServices<HookRegistration>()));
        services.TryAddSingleton<HttpHookStore>();
        services.TryAddSingleton<HttpHookClient>();
        services.TryAddSingleton<HookTasks>();
        services.AddHostedService(sp => sp.GetRequiredService<HookTasks>());
        services.TryAddSingleton<Hooks>();
        services.TryAddSingleton<IHooks>(sp => sp.GetRequiredService<Hooks>());
        services.TryAddSingleton<HookRemote>();
        services.TryAddSingleton<HookWorkers>();
        services.TryAddSingleton<IHookWorkers>(sp => sp.GetRequiredService<HookWorkers>());
        services.TryAddSingleton<HookRpcHandlers>();
        services.AddHostedService(sp => sp.GetRequiredService<HookRpcHandlers>());
        services.AddSingleton(sp => Rpc(HookRemote.ControlModule, "start_task",
            (a, ct) => sp.GetRequiredService<HookRpcHandlers>().StartTaskAsync(a, ct)));
        services.AddSingleton(sp => Rpc(HookRemote.ControlModule, "start_stream",
            (a, ct) => sp.GetRequiredService<HookRpcHandlers>().StartStreamAsync(a, ct)));
        return services;
    }

    /// <summary>
    /// Registers a function hook called as <c>(action, args, kwargs)</c>, the seed's <c>my_handler(action, *args,
    /// **kwargs)</c>.
    /// </summary>
    public static HornbeamBuilder AddHook(this HornbeamBuilder builder, string appPath,
        Func<string, IReadOnlyList<JsonElement>, IReadOnlyDictionary<string, JsonElement>, object?> handler) =>
        builder.AddHook(appPath, (action, args, kwargs, _) => Task.FromResult(handler(action, args, kwargs)));

    /// <summary>Registers an asynchronous function hook, called as <c>(action, args, kwargs, cancellationToken)</c>.</summary>
    public static HornbeamBuilder AddHook(this HornbeamBuilder builder, string appPath, HookFunction handler) =>
        builder.Add(appPath, new FunctionHookHandler(handler));

    /// <summary>
    /// Registers a class hook: each call builds a new <typeparamref name="THandler"/> through dependency injection and
    /// calls the method named after the action.
    /// </summary>
    public static HornbeamBuilder AddHook<THandler>(this HornbeamBuilder builder, string appPath) where THandler : class =>
        builder.Add(appPath, new MethodHookHandler(typeof(THandler), null));

    /// <summary>Registers an instance hook: each call runs the method named after the action on <paramref name="instance"/>.</summary>
    public static HornbeamBuilder AddHookInstance(this HornbeamBuilder builder, string appPath, object instance) =>
        builder.Add(appPath, HookRegistry.ForInstance(instance));

    private static HornbeamBuilder Add(this HornbeamBuilder builder, string appPath, HookHandler handler)
    {
        HookNames.Validate(appPath);
        // Offered to other nodes once per app_path (a later registration replaces the handler, not the offer).
        if (!builder.Services.Any(d => d.ImplementationInstance is HookRegistration r && r.AppPath == appPath))
            builder.Services.AddSingleton(sp => Rpc(HookRemote.HooksModule, appPath,
                (a, ct) => sp.GetRequiredService<HookRpcHandlers>().ExecuteAsync(appPath, a, ct)));
        builder.Services.AddSingleton(new HookRegistration(appPath, handler));
        return builder;
    }

    private static RpcFunctionRegistration Rpc(string module, string function,
        Func<IReadOnlyList<JsonElement>, CancellationToken, Task<JsonElement>> run) =>
        new(module, function, new RpcFunction($"{module}:{function}", (args, ct) => new ValueTask<JsonElement>(run(args, ct))));
}
