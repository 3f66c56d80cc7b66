using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text.Json;

namespace Hornbeam;

/// <summary>
/// Calls C# code with JSON arguments: the one binder behind RPC functions (<c>AddFunction</c>, <c>AddModule</c>) and
/// C# hooks. Positional arguments fill the parameters in order, keyword arguments by name (exact, else ignoring case
/// and <c>_</c>, so <c>max_tokens</c> binds <c>maxTokens</c>); a <see cref="CancellationToken"/> parameter gets the
/// call's token. The result is awaited by the return type: void, Task, Task&lt;T&gt;, ValueTask, ValueTask&lt;T&gt;.
/// Arguments that do not fit throw <see cref="HornbeamException"/> (invalid input) naming the parameter; whatever the
/// code throws passes through unwrapped, for the caller to map.
/// </summary>
internal sealed class DelegateBinder
{
    private static readonly JsonElement Null = JsonDocument.Parse("null").RootElement.Clone();
    private static readonly ConcurrentDictionary<Type, Func<object, ValueTask<object?>>> RuntimeAwaiters = new();

    private readonly Func<object?, object?[], object?> _invoke;
    private readonly ParameterInfo[] _parameters;
    private readonly int[] _bindable;
    private readonly int _required;
    private readonly Func<object?, ValueTask<object?>> _await;
    private readonly JsonSerializerOptions _json;

    private DelegateBinder(MethodInfo method, Func<object?, object?[], object?> invoke, JsonSerializerOptions json)
    {
        Method = method;
        _invoke = invoke;
        _json = json;
        _parameters = method.GetParameters();
        _bindable = Enumerable.Range(0, _parameters.Length).Where(i => _parameters[i].ParameterType != typeof(CancellationToken)).ToArray();
        _required = _bindable.Count(i => !_parameters[i].HasDefaultValue);
        _await = Awaiter(method.ReturnType);
        Parameters = _bindable.Select(i => _parameters[i].Name ?? $"arg{i}").ToArray();
    }

    /// <summary>A binder for a delegate (a lambda, a method group); its own target is used.</summary>
    public static DelegateBinder For(Delegate function, JsonSerializerOptions json) =>
        new(function.Method, (_, values) => function.DynamicInvoke(values), json);

    /// <summary>A binder for an instance method, whose target is given on each call.</summary>
    public static DelegateBinder For(MethodInfo method, JsonSerializerOptions json) =>
        new(method, method.Invoke, json);

    /// <summary>The method that runs.</summary>
    public MethodInfo Method { get; }

    /// <summary>The names of the parameters that take JSON arguments, in order.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>
    /// The parameter values for one call. <paramref name="where"/> opens each message (e.g. <c>function 'add'</c>).
    /// A call without keyword arguments that gives too few or too many is told the count it takes.
    /// </summary>
    public object?[] Bind(string where, IReadOnlyList<JsonElement> args, IReadOnlyDictionary<string, JsonElement>? kwargs,
        CancellationToken ct)
    {
        var named = kwargs is { Count: > 0 };
        if (args.Count > _bindable.Length || (!named && args.Count < _required))
            throw Invalid($"{where} takes {Expected(args.Count)} argument(s) ({Names()}); {args.Count} given.");
        var values = new object?[_parameters.Length];
        var filled = new bool[_parameters.Length];
        for (var a = 0; a < args.Count; a++)
        {
            var i = _bindable[a];
            values[i] = Convert(where, _parameters[i], args[a]);
            filled[i] = true;
        }
        if (named)
        {
            foreach (var (name, value) in kwargs!)
            {
                var i = FindParameter(name)
                    ?? throw Invalid($"{where} has no parameter '{name}' (its parameters: {Names()}).");
                if (filled[i])
                    throw Invalid($"{where}: parameter '{_parameters[i].Name}' is given both by position and by name '{name}'.");
                values[i] = Convert(where, _parameters[i], value);
                filled[i] = true;
            }
        }
        for (var i = 0; i < _parameters.Length; i++)
        {
            if (filled[i]) continue;
            var p = _parameters[i];
            if (p.ParameterType == typeof(CancellationToken)) values[i] = ct;
            else if (p.HasDefaultValue) values[i] = p.DefaultValue is DBNull or Missing ? null : p.DefaultValue;
            else throw Invalid($"{where} is missing parameter '{p.Name}' (its parameters: {Names()}).");
        }
        return values;
    }

    /// <summary>
    /// Runs the method on <paramref name="target"/> (ignored for a delegate) with bound values and awaits what it
    /// answers; what it throws is rethrown as it is, not wrapped.
    /// </summary>
    public async ValueTask<object?> InvokeAsync(object? target, object?[] values)
    {
        object? returned;
        try
        {
            returned = _invoke(target, values);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        return await _await(returned);
    }

    /// <summary>Binds, runs a delegate and answers its result as JSON.</summary>
    public async ValueTask<JsonElement> InvokeJsonAsync(string where, IReadOnlyList<JsonElement> args,
        IReadOnlyDictionary<string, JsonElement>? kwargs, CancellationToken ct) =>
        ToJson(await InvokeAsync(null, Bind(where, args, kwargs, ct)));

    /// <summary>A result as JSON with this binder's options; null is JSON null, a JSON element stays as it is.</summary>
    public JsonElement ToJson(object? value) => value switch
    {
        null => Null,
        JsonElement e => e,
        _ => JsonSerializer.SerializeToElement(value, value.GetType(), _json),
    };

    /// <summary>
    /// Awaits a value whose declared type says nothing (e.g. <see cref="object"/>), by its runtime type: a
    /// <see cref="Task"/>, <see cref="ValueTask"/> or <see cref="ValueTask{TResult}"/> is awaited, anything else answered as it is.
    /// </summary>
    public static ValueTask<object?> AwaitAnyAsync(object? value) =>
        value is null ? ValueTask.FromResult<object?>(null) : RuntimeAwaiters.GetOrAdd(value.GetType(), RuntimeAwaiter)(value);

    private int? FindParameter(string name)
    {
        foreach (var i in _bindable)
            if (_parameters[i].Name == name) return i;
        var loose = name.Replace("_", "");
        foreach (var i in _bindable)
            if (_parameters[i].Name is { } p && string.Equals(loose, p.Replace("_", ""), StringComparison.OrdinalIgnoreCase)) return i;
        return null;
    }

    private object? Convert(string where, ParameterInfo parameter, JsonElement value)
    {
        var type = parameter.ParameterType;
        if (type == typeof(JsonElement) || type == typeof(object)) return value.Clone();
        try
        {
            var converted = value.Deserialize(type, _json);
            if (converted is null && type.IsValueType && Nullable.GetUnderlyingType(type) is null)
                throw new JsonException("null is not a value of this type.");
            return converted;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            throw Invalid($"{where}: parameter '{parameter.Name}' expects {Describe(type)}, got {Shorten(value.GetRawText())}.", e);
        }
    }

    private string Expected(int given) =>
        given > _bindable.Length || _required == _bindable.Length ? $"{_bindable.Length}" : $"{_required} to {_bindable.Length}";

    private string Names() =>
        _bindable.Length == 0
            ? "none"
            : string.Join(", ", _bindable.Select(i => _parameters[i].HasDefaultValue ? $"{_parameters[i].Name}?" : _parameters[i].Name));

    private static HornbeamException Invalid(string message, Exception? inner = null) => new(HornbeamError.InvalidInput, message, inner);

    // The type's C# name, with what JSON it takes where that is not obvious from the name.
    private static string Describe(Type type)
    {
        if (Nullable.GetUnderlyingType(type) is { } inner) return Describe(inner) + " or null";
        var name = type.IsGenericType
            ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(", ", type.GetGenericArguments().Select(t => t.Name))}>"
            : type.Name;
        var json = type switch
        {
            _ when type == typeof(string) || type == typeof(bool) => null,
            _ when type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte)
                || type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(sbyte) => "an integer",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number",
            _ when type.IsArray || typeof(System.Collections.IEnumerable).IsAssignableFrom(type) => "an array",
            _ => null,
        };
        return json is null ? name : $"{name} ({json})";
    }

    private static string Shorten(string json) => json.Length <= 80 ? json : json[..77] + "...";

    // How to await what a method declared with this return type answers.
    private static Func<object?, ValueTask<object?>> Awaiter(Type returnType)
    {
        if (returnType == typeof(void)) return static _ => ValueTask.FromResult<object?>(null);
        if (returnType == typeof(Task)) return static async r => { await (Task)r!; return null; };
        if (returnType == typeof(ValueTask)) return static async r => { await (ValueTask)r!; return null; };
        if (returnType.IsGenericType && returnType.GetGenericTypeDefinition() is var definition
            && (definition == typeof(Task<>) || definition == typeof(ValueTask<>)))
        {
            var awaiter = GenericAwaiter(definition, returnType.GetGenericArguments()[0]);
            return r => awaiter(r!);
        }
        // object, or any type an awaitable may hide behind: look at what came back.
        return AwaitAnyAsync;
    }

    private static Func<object, ValueTask<object?>> RuntimeAwaiter(Type type)
    {
        if (type == typeof(ValueTask)) return static async r => { await (ValueTask)r; return null; };
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>))
            return GenericAwaiter(typeof(ValueTask<>), type.GetGenericArguments()[0]);
        if (!typeof(Task).IsAssignableFrom(type)) return static r => ValueTask.FromResult<object?>(r);
        for (var t = type; t is not null && t != typeof(Task); t = t.BaseType)
        {
            // An async method declared as Task runs as a Task of the runtime's own hidden (non-public) result type:
            // that result is not the method's, so such a task answers null, like a plain Task.
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Task<>)
                && t.GetGenericArguments()[0] is var result && !(result.Assembly == typeof(Task).Assembly && !result.IsVisible))
                return GenericAwaiter(typeof(Task<>), result);
        }
        return static async r => { await (Task)r; return null; };
    }

    private static Func<object, ValueTask<object?>> GenericAwaiter(Type definition, Type result) =>
        typeof(DelegateBinder).GetMethod(
                definition == typeof(Task<>) ? nameof(AwaitTask) : nameof(AwaitValueTask), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(result).CreateDelegate<Func<object, ValueTask<object?>>>();

    private static async ValueTask<object?> AwaitTask<T>(object task) => await (Task<T>)task;

    private static async ValueTask<object?> AwaitValueTask<T>(object task) => await (ValueTask<T>)task;
}
