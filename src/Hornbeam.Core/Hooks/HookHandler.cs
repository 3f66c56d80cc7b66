using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Hooks;

/// <summary>
/// A hook function, as the seed's <c>my_handler(action, *args, **kwargs)</c>: it gets the action and the arguments and
/// answers a result (an async function awaits its work and answers it), which may be an <see cref="IAsyncEnumerable{T}"/> or <see cref="IEnumerable{T}"/> to stream.
/// </summary>
public delegate Task<object?> HookFunction(string action, IReadOnlyList<JsonElement> args, IReadOnlyDictionary<string, JsonElement> kwargs,
    CancellationToken cancellationToken);

/// <summary>What a handler answered, and the object to dispose once the answer (perhaps a stream) is consumed.</summary>
internal readonly record struct HookOutcome(object? Value, object? Owner);

/// <summary>One registered C# hook: a function, a class (new instance per call) or an instance.</summary>
internal abstract class HookHandler
{
    public abstract string Kind { get; }

    /// <summary>Runs the action; argument binding errors are <see cref="HornbeamError.InvalidInput"/>, unknown actions <see cref="HornbeamError.NotFound"/>.</summary>
    public abstract Task<HookOutcome> InvokeAsync(string appPath, string action, HookArgs args, IServiceProvider services, CancellationToken ct);

    /// <summary>Whether the action exists, when that can be known before calling; null for functions.</summary>
    public virtual bool? HasAction(string action) => null;
}

internal sealed class FunctionHookHandler(HookFunction function) : HookHandler
{
    public override string Kind => "function";

    public override async Task<HookOutcome> InvokeAsync(string appPath, string action, HookArgs args, IServiceProvider services, CancellationToken ct) =>
        new(await HookResults.UnwrapAsync(await function(action, args.Args, args.Kwargs, ct)), null);
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

    public override async Task<HookOutcome> InvokeAsync(string appPath, string action, HookArgs args, IServiceProvider services, CancellationToken ct)
    {
        var candidates = HookMethods.Find(_type, action);
        if (candidates.Count == 0)
            throw new HornbeamException(HornbeamError.NotFound,
                $"Hook '{appPath}' has no action '{action}': {_type.Name} has no public method {HookNames.ToPascal(action)} or {HookNames.ToPascal(action)}Async.");

        // Bind before creating an instance, so a bad call costs no construction.
        var (method, values) = HookMethods.Bind(appPath, action, candidates, args, ct);
        var target = _instance ?? ActivatorUtilities.CreateInstance(services, _type);
        object? raw;
        try
        {
            raw = method.Invoke(target, values);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            await DisposeOwned(target);
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        try
        {
            return new(await HookResults.UnwrapAsync(raw), _instance is null ? target : null);
        }
        catch
        {
            await DisposeOwned(target);
            throw;
        }
    }

    private async ValueTask DisposeOwned(object target)
    {
        if (_instance is null) await HookResults.DisposeAsync(target);
    }
}

/// <summary>Finds the method an action names and binds JSON arguments to its parameters.</summary>
internal static class HookMethods
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type, string), IReadOnlyList<MethodInfo>> Cache = new();

    public static IReadOnlyList<MethodInfo> Find(Type type, string action) => Cache.GetOrAdd((type, action), static key =>
    {
        var (type, action) = key;
        var name = HookNames.ToPascal(action);
        return type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => !m.IsSpecialName && !m.IsGenericMethodDefinition && m.DeclaringType != typeof(object)
                        && m.Name is not ("Dispose" or "DisposeAsync")
                        && (m.Name.Equals(name, StringComparison.OrdinalIgnoreCase) || m.Name.Equals(name + "Async", StringComparison.OrdinalIgnoreCase)))
            .OrderBy(m => m.Name.Length) // Encode before EncodeAsync
            .ThenByDescending(m => m.GetParameters().Length)
            .ToArray();
    });

    /// <summary>Binds to the first overload that accepts the arguments; when none does, reports why the first did not.</summary>
    public static (MethodInfo, object?[]) Bind(string appPath, string action, IReadOnlyList<MethodInfo> candidates, HookArgs args, CancellationToken ct)
    {
        HornbeamException? first = null;
        foreach (var method in candidates)
        {
            try
            {
                return (method, Bind(appPath, action, method, args, ct));
            }
            catch (HornbeamException e) when (e.Error == HornbeamError.InvalidInput)
            {
                first ??= e;
            }
        }
        throw first!;
    }

    private static object?[] Bind(string appPath, string action, MethodInfo method, HookArgs args, CancellationToken ct)
    {
        var parameters = method.GetParameters();
        var values = new object?[parameters.Length];
        var filled = new bool[parameters.Length];
        var bindable = Enumerable.Range(0, parameters.Length).Where(i => parameters[i].ParameterType != typeof(CancellationToken)).ToArray();
        string Where() => $"Hook '{appPath}' action '{action}'";
        string Names() => bindable.Length == 0 ? "none" : string.Join(", ", bindable.Select(i => parameters[i].Name));

        if (args.Args.Count > bindable.Length)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"{Where()} takes {bindable.Length} argument(s) ({Names()}), but {args.Args.Count} positional argument(s) were given.");
        for (var a = 0; a < args.Args.Count; a++)
        {
            var i = bindable[a];
            values[i] = Convert(args.Args[a], parameters[i], Where());
            filled[i] = true;
        }
        foreach (var (name, value) in args.Kwargs)
        {
            var matches = bindable.Where(i => parameters[i].Name == name).ToArray();
            if (matches.Length == 0) matches = bindable.Where(i => HookNames.SameParameter(name, parameters[i].Name!)).ToArray();
            if (matches.Length == 0)
                throw new HornbeamException(HornbeamError.InvalidInput, $"{Where()} has no parameter '{name}' (its parameters: {Names()}).");
            var i = matches[0];
            if (filled[i])
                throw new HornbeamException(HornbeamError.InvalidInput, $"{Where()}: parameter '{parameters[i].Name}' is given both by position and by name '{name}'.");
            values[i] = Convert(value, parameters[i], Where());
            filled[i] = true;
        }
        for (var i = 0; i < parameters.Length; i++)
        {
            if (filled[i]) continue;
            if (parameters[i].ParameterType == typeof(CancellationToken)) values[i] = ct;
            else if (parameters[i].HasDefaultValue) values[i] = parameters[i].DefaultValue is DBNull or Missing ? null : parameters[i].DefaultValue;
            else throw new HornbeamException(HornbeamError.InvalidInput, $"{Where()} is missing parameter '{parameters[i].Name}' (its parameters: {Names()}).");
        }
        return values;
    }

    private static object? Convert(JsonElement value, ParameterInfo parameter, string where)
    {
        if (parameter.ParameterType == typeof(JsonElement) || parameter.ParameterType == typeof(object)) return value.Clone();
        try
        {
            var converted = value.Deserialize(parameter.ParameterType, HookJson.Options);
            if (converted is null && parameter.ParameterType.IsValueType && Nullable.GetUnderlyingType(parameter.ParameterType) is null)
                throw new JsonException("null is not a value of this type.");
            return converted;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"{where}: parameter '{parameter.Name}' expects {Describe(parameter.ParameterType)}, got {value.ValueKind.ToString().ToLowerInvariant()} {Truncate(value.GetRawText())}.");
        }
    }

    private static string Describe(Type type) =>
        Nullable.GetUnderlyingType(type) is { } inner ? Describe(inner) + "?" :
        type.IsGenericType ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(", ", type.GetGenericArguments().Select(Describe))}>" : type.Name;

    private static string Truncate(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
