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
            throw new FunctionFailedException(Name, e);
        }
    }

    /// <summary>
    /// Wraps a delegate: sync or async (Task, Task&lt;T&gt;, ValueTask, ValueTask&lt;T&gt;), any JSON-serializable parameters and
    /// result, bound by <see cref="DelegateBinder"/> from positional arguments.
    /// </summary>
    public static RpcFunction FromDelegate(string name, Delegate function)
    {
        var binder = DelegateBinder.For(function, Json);
        return new RpcFunction(name, (args, ct) => binder.InvokeJsonAsync($"function '{name}'", args, null, ct), binder.Parameters);
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
