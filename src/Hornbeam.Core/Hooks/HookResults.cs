using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hornbeam.Hooks;

/// <summary>Turns whatever a handler returned into a value or a stream of values.</summary>
internal static class HookResults
{
    private static readonly MethodInfo AdaptAsyncMethod = typeof(HookResults).GetMethod(nameof(AdaptAsync),
        BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>
    /// The items of a streaming result (<see cref="IAsyncEnumerable{T}"/>, or an <see cref="IEnumerable"/> that is not
    /// text, JSON or a map); null when it is one value.
    /// </summary>
    public static IAsyncEnumerable<object?>? AsStream(object? value, CancellationToken ct)
    {
        if (value is null or string or JsonElement or JsonNode or byte[] or IDictionary or JsonDocument) return null;
        var asyncItem = value.GetType().GetInterfaces().Append(value.GetType())
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>));
        if (asyncItem is not null)
            return (IAsyncEnumerable<object?>)AdaptAsyncMethod.MakeGenericMethod(asyncItem.GetGenericArguments()[0])
                .Invoke(null, [value, ct])!;
        return value is IEnumerable items ? AdaptSync(items, ct) : null;
    }

    private static async IAsyncEnumerable<object?> AdaptAsync<T>(IAsyncEnumerable<T> source, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var item in source.WithCancellation(ct)) yield return item;
    }

    private static async IAsyncEnumerable<object?> AdaptSync(IEnumerable source, [EnumeratorCancellation] CancellationToken ct)
    {
        await Task.CompletedTask;
        foreach (var item in source)
        {
            ct.ThrowIfCancellationRequested();
            yield return item;
        }
    }

    /// <summary>One JSON value for an execute: a stream is collected into an array.</summary>
    public static async Task<JsonElement> ToElementAsync(object? value, CancellationToken ct)
    {
        if (AsStream(value, ct) is not { } stream) return HookJson.ToElement(value);
        var items = new List<JsonElement>();
        await foreach (var item in stream.WithCancellation(ct)) items.Add(HookJson.ToElement(item));
        return HookJson.ToElement(items);
    }

    public static async ValueTask DisposeAsync(object? owner)
    {
        if (owner is IAsyncDisposable asyncDisposable) await asyncDisposable.DisposeAsync();
        else if (owner is IDisposable disposable) disposable.Dispose();
    }
}
