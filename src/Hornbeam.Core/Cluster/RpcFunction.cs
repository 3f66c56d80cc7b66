using System.Reflection;
using System.Text.Json;

namespace Hornbeam.Cluster;

/// <summary>
/// One callable function: a JSON array of arguments in, a JSON value out. Built from any delegate, whose parameters
/// are bound by position from the array (a <see cref="CancellationToken"/> parameter gets the call's deadline).
/// </summary>
public sealed class RpcFunction
{
    /// <summary>The raw form every function takes: positional JSON arguments and a token cancelled at the deadline.</summary>
    public delegate ValueTask<JsonElement> Handler(IReadOnlyList<JsonElement> args, CancellationToken cancellationToken);

    /// <summary>How user arguments and results are (de)serialized: snake_case, numbers never read from strings.</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict,
    };

    private static readonly JsonElement Null = JsonDocument.Parse("null").RootElement.Clone();

    private readonly Handler _handler;

    /// <summary>A function from its raw handler; <paramref name="parameters"/> only describe it.</summary>
    public RpcFunction(string name, Handler handler, IReadOnlyList<string>? parameters = null)
    {
        Name = name;
        _handler = handler;
        Parameters = parameters ?? [];
    }

    /// <summary>The function's name as callers see it in messages, e.g. <c>add</c> or <c>ml_model:predict</c>.</summary>
    public string Name { get; }

    /// <summary>The names of the JSON arguments, in order.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>
    /// Runs the function. Wrong arguments throw <see cref="HornbeamException"/> (400); a failure of the function itself
    /// throws <see cref="FunctionFailedException"/>; a <see cref="HornbeamException"/> it throws passes through.
    /// </summary>
    public async ValueTask<JsonElement> InvokeAsync(IReadOnlyList<JsonElement> args, CancellationToken cancellationToken)
    {
        try
        {
            return await _handler(args, cancellationToken);
        }
        catch (HornbeamException)
        {
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new FunctionFailedException(Name, e is TargetInvocationException { InnerException: { } inner } ? inner : e);
        }
    }

    /// <summary>Wraps a delegate: sync or async (Task, Task&lt;T&gt;, ValueTask, ValueTask&lt;T&gt;), any JSON-serializable parameters and result.</summary>
    public static RpcFunction FromDelegate(string name, Delegate function)
    {
        var method = function.Method;
        var parameters = method.GetParameters();
        var jsonParameters = parameters.Where(p => p.ParameterType != typeof(CancellationToken)).ToArray();
        var required = jsonParameters.Count(p => !p.HasDefaultValue);
        var unwrap = ResultUnwrapper(method.ReturnType);

        async ValueTask<JsonElement> Invoke(IReadOnlyList<JsonElement> args, CancellationToken ct)
        {
            if (args.Count < required || args.Count > jsonParameters.Length)
                throw new HornbeamException(HornbeamError.InvalidInput, CountMessage(name, jsonParameters, required, args.Count));
            var values = new object?[parameters.Length];
            var next = 0;
            for (var i = 0; i < parameters.Length; i++)
            {
                var p = parameters[i];
                if (p.ParameterType == typeof(CancellationToken)) { values[i] = ct; continue; }
                var position = next++;
                values[i] = position < args.Count ? Bind(name, p, position, args[position]) : p.DefaultValue;
            }
            object? returned;
            try
            {
                returned = function.DynamicInvoke(values);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
            var result = await unwrap(returned);
            return result is null ? Null : JsonSerializer.SerializeToElement(result, result.GetType(), Json);
        }

        return new RpcFunction(name, Invoke, jsonParameters.Select(p => p.Name ?? $"arg{p.Position}").ToArray());
    }

    private static object? Bind(string function, ParameterInfo parameter, int position, JsonElement arg)
    {
        try
        {
            var value = arg.Deserialize(parameter.ParameterType, Json);
            if (value is null && parameter.ParameterType.IsValueType && Nullable.GetUnderlyingType(parameter.ParameterType) is null)
                throw new JsonException("null is not allowed here");
            return value;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"function '{function}': argument {position + 1} ('{parameter.Name}') must be {Describe(parameter.ParameterType)}; got {Shorten(arg.GetRawText())}.", e);
        }
    }

    private static string CountMessage(string function, ParameterInfo[] parameters, int required, int given)
    {
        var expected = required == parameters.Length ? $"{required}" : $"{required} to {parameters.Length}";
        var names = string.Join(", ", parameters.Select(p => p.HasDefaultValue ? $"{p.Name}?" : p.Name));
        return $"function '{function}' takes {expected} argument(s) ({names}); {given} given.";
    }

    private static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        var what = t switch
        {
            _ when t == typeof(string) => "a string",
            _ when t == typeof(bool) => "true or false",
            _ when t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(byte)
                || t == typeof(uint) || t == typeof(ulong) || t == typeof(ushort) || t == typeof(sbyte) => $"an integer ({t.Name})",
            _ when t == typeof(double) || t == typeof(float) || t == typeof(decimal) => $"a number ({t.Name})",
            _ when t == typeof(JsonElement) => "any JSON value",
            _ when t.IsArray || (t != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(t)) => $"an array ({t.Name})",
            _ => $"a JSON value for {t.Name}",
        };
        return t == type ? what : what + " or null";
    }

    private static string Shorten(string json) => json.Length <= 60 ? json : json[..57] + "...";

    // Turns whatever the delegate returned into the value to serialize, awaiting tasks of any kind.
    private static Func<object?, ValueTask<object?>> ResultUnwrapper(Type returnType)
    {
        if (returnType == typeof(void)) return _ => ValueTask.FromResult<object?>(null);
        if (returnType == typeof(Task)) return async r => { await (Task)r!; return null; };
        if (returnType == typeof(ValueTask)) return async r => { await (ValueTask)r!; return null; };
        if (returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(Task<>))
        {
            var result = returnType.GetProperty(nameof(Task<int>.Result))!;
            return async r => { await (Task)r!; return result.GetValue(r); };
        }
        if (returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(ValueTask<>))
        {
            var asTask = returnType.GetMethod(nameof(ValueTask<int>.AsTask))!;
            return async r =>
            {
                var task = (Task)asTask.Invoke(r, null)!;
                await task;
                return task.GetType().GetProperty(nameof(Task<int>.Result))!.GetValue(task);
            };
        }
        return r => ValueTask.FromResult(r);
    }
}

/// <summary>A registered function ran and threw; the message names the function and its error, never a stack trace.</summary>
public sealed class FunctionFailedException(string function, Exception inner)
    : HornbeamException(HornbeamError.HandlerFailed, $"function '{function}' failed: {inner.Message}", inner)
{
    /// <summary>The function that failed.</summary>
    public string Function { get; } = function;

    /// <summary>The function's own error message.</summary>
    public string Reason { get; } = inner.Message;
}
