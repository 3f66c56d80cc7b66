using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Hornbeam.Hooks;

/// <summary>
/// A hook registered on the builder at start-up; the registry applies them in order, so a later one replaces an earlier
/// one.
/// </summary>
internal sealed record HookRegistration(string AppPath, HookHandler Handler);

/// <summary>
/// The C# hooks this node has (the seed's <c>register_hook</c> / <c>unregister_hook</c>). Registering an app_path again
/// replaces its handler. HTTP hooks are not here: they live in Redis, see <see cref="IHooks.RegisterHttpAsync"/>.
/// </summary>
public sealed class HookRegistry
{
    private readonly ConcurrentDictionary<string, HookHandler> _hooks = new(StringComparer.Ordinal);

    internal HookRegistry(IEnumerable<HookRegistration> registrations)
    {
        foreach (var r in registrations) _hooks[r.AppPath] = r.Handler;
    }

    /// <summary>Registers a function handler, called as <c>(action, args, kwargs, cancellationToken)</c>.</summary>
    public void Register(string appPath, HookFunction function) => Set(appPath, new FunctionHookHandler(function));

    /// <summary>Registers a class handler: each call builds a new <typeparamref name="THandler"/> through dependency injection.</summary>
    public void Register<THandler>(string appPath) where THandler : class => Set(appPath, new MethodHookHandler(typeof(THandler), null));

    /// <summary>Registers an instance handler: each call runs the action's method on this one object.</summary>
    public void RegisterInstance(string appPath, object instance) => Set(appPath, ForInstance(instance));

    /// <summary>Removes a C# hook from this node; answers whether it was there.</summary>
    public bool Unregister(string appPath) => _hooks.TryRemove(appPath, out _);

    /// <summary>The app_paths of the C# hooks on this node, in order.</summary>
    public IReadOnlyList<string> AppPaths => _hooks.Keys.Order(StringComparer.Ordinal).ToArray();

    internal bool TryGet(string appPath, [NotNullWhen(true)] out HookHandler? handler) => _hooks.TryGetValue(appPath, out handler);

    internal static HookHandler ForInstance(object instance) => instance switch
    {
        null => throw new ArgumentNullException(nameof(instance)),
        Delegate => throw new ArgumentException(
            "A delegate is a function handler: register it as a HookFunction, not as an instance.", nameof(instance)),
        _ => new MethodHookHandler(instance.GetType(), instance),
    };

    private void Set(string appPath, HookHandler handler)
    {
        HookNames.Validate(appPath);
        _hooks[appPath] = handler;
    }
}
