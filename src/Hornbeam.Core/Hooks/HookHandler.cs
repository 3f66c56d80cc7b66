using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Hooks;

/// <summary>
/// A hook function, as the seed's <c>my_handler(action, *args, **kwargs)</c>: it gets the action and the arguments and
/// answers a result (an async function awaits its work and answers it), which may be an <see cref="IAsyncEnumerable{T}"/> or
/// <see cref="IEnumerable{T}"/> to stream.
/// </summary>
public delegate Task<object?> HookFunction(string action, IReadOnlyList<JsonElement> args, IReadOnlyDictionary<string, JsonElement> kwargs,
    CancellationToken cancellationToken);

/// <summary>What a handler answered, and the object to dispose once the answer (perhaps a stream) is consumed.</summary>
internal readonly record struct HookOutcome(object? Value, object? Owner);

/// <summary>One registered C# hook: a function, a class (new instance per call) or an instance.</summary>
internal abstract class HookHandler
{
    public abstract string Kind { get; }

    /// <summary>
    /// Runs the action; argument binding errors are <see cref="HornbeamError.InvalidInput"/>, unknown actions
    /// <see cref="HornbeamError.NotFound"/>.
    /// </summary>
    public abstract Task<HookOutcome> InvokeAsync(string appPath, string action, HookArgs args, IServiceProvider services,
        CancellationToken ct);

    /// <summary>Whether the action exists, when that can be known before calling; null for functions.</summary>
    public virtual bool? HasAction(string action) => null;
}

internal sealed class FunctionHookHandler(HookFunction function) : HookHandler
{
    public override string Kind => "function";

    // Its declared result is object: a task it hands back is awaited by what it is.
    public override async Task<HookOutcome> InvokeAsync(string appPath, string action, HookArgs args, IServiceProvider services,
        CancellationToken ct) =>
        new(await DelegateBinder.AwaitAnyAsync(await function(action, args.Args, args.Kwargs, ct)), null);
}

/// <summary>A class or instance: the public method named after the action is called with the bound arguments.</summary>
internal sealed class MethodHookHandler : HookHandler
{
    private readonly Type _type;
    private readonly object? _instance;

    public MethodHookHandler(Type type, object? instance)
    {
        _type = type;
        _instance = instance;
    }

    public override string Kind => _instance is null ? "class" : "instance";

    public Type Type => _type;

    public override bool? HasAction(string action) => HookMethods.Find(_type, action).Count > 0;

    public override async Task<HookOutcome> InvokeAsync(string appPath, string action, HookArgs args, IServiceProvider services,
        CancellationToken ct)
    {
        var candidates = HookMethods.Find(_type, action);
        if (candidates.Count == 0)
            throw new HornbeamException(HornbeamError.NotFound,
                $"Hook '{appPath}' has no action '{action}': {_type.Name} has no public method {HookNames.ToPascal(action)} or " +
                $"{HookNames.ToPascal(action)}Async.");

        // Bind before creating an instance, so a bad call costs no construction.
        var (method, values) = HookMethods.Bind($"Hook '{appPath}' action '{action}'", candidates, args, ct);
        var target = _instance ?? ActivatorUtilities.CreateInstance(services, _type);
        try
        {
            return new(await method.InvokeAsync(target, values), _instance is null ? target : null);
        }
        catch
        {
            if (_instance is null) await HookResults.DisposeAsync(target);
            throw;
        }
    }
}

/// <summary>Finds the methods an action names, each with its <see cref="DelegateBinder"/>.</summary>
internal static class HookMethods
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type, string), IReadOnlyList<DelegateBinder>> Cache = new();

    public static IReadOnlyList<DelegateBinder> Find(Type type, string action) => Cache.GetOrAdd((type, action), static key =>
    {
        var (type, action) = key;
        var name = HookNames.ToPascal(action);
        return type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => !m.IsSpecialName && !m.IsGenericMethodDefinition && m.DeclaringType != typeof(object)
                        && m.Name is not ("Dispose" or "DisposeAsync")
                        && (m.Name.Equals(name, StringComparison.OrdinalIgnoreCase)
                            || m.Name.Equals(name + "Async", StringComparison.OrdinalIgnoreCase)))
            .OrderBy(m => m.Name.Length) // Encode before EncodeAsync
            .ThenByDescending(m => m.GetParameters().Length)
            .Select(m => DelegateBinder.For(m, HookJson.Options))
            .ToArray();
    });

    /// <summary>Binds to the first overload that accepts the arguments; when none does, reports why the first did not.</summary>
    public static (DelegateBinder, object?[]) Bind(string where, IReadOnlyList<DelegateBinder> candidates, HookArgs args,
        CancellationToken ct)
    {
        HornbeamException? first = null;
        foreach (var method in candidates)
        {
            try
            {
                return (method, method.Bind(where, args.Args, args.Kwargs, ct));
            }
            catch (HornbeamException e) when (e.Error == HornbeamError.InvalidInput)
            {
                first ??= e;
            }
        }
        throw first!;
    }
}
