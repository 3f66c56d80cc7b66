using System.Text.Json;
using Hornbeam.Api.Access;
using Hornbeam.Api.Hosting;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Idempotency;
using Hornbeam.State;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.State;

/// <summary>
/// Shared state over REST: the seed's state_get, state_set, state_delete, state_incr, state_decr, state_get_multi and
/// state_keys.
/// </summary>
public static class StateApi
{
    public static RouteGroupBuilder MapState(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/state").WithTags("State");
        // The named handlers below get their singletons from the app's services once, through these lambdas, not as
        // bound parameters: a state call then opens no DI scope (see AppService).
        var state = new AppService<IStateStore>(routes.ServiceProvider);
        var options = new AppService<IOptions<HornbeamOptions>>(routes.ServiceProvider);

        group.MapGet("/", (string? prefix, int? limit, string? cursor) => Keys(state.Value, prefix, limit, cursor))
            .WithName("StateKeys").RequireScope(Scopes.StateRead)
            .WithSummary("state_keys: list keys, optionally by prefix, one page at a time")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapPost("/multi", (HttpRequest http) => GetMulti(http, state.Value, options.Value))
            .WithName("StateGetMulti").RequireScope(Scopes.StateRead).ChangesNothing()
            .WithSummary("state_get_multi: get many keys at once; absent keys map to null")
            .Accepts<StateMultiRequest>("application/json").ChecksJsonBodyItself()
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapPost("/incr/{**key}",
            (string key, HttpContext http, long delta = 1) => Increment(RouteKey.Decode(http, key), state.Value, http, delta))
            .WithName("StateIncr").RequireScope(Scopes.StateWrite).AcceptsIdempotencyKey(appliedByHandler: true)
            .WithSummary("state_incr: atomically add delta (default 1) to a counter and return the new value")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/decr/{**key}",
            (string key, HttpContext http, long delta = 1) => Decrement(RouteKey.Decode(http, key), state.Value, http, delta))
            .WithName("StateDecr").RequireScope(Scopes.StateWrite).AcceptsIdempotencyKey(appliedByHandler: true)
            .WithSummary("state_decr: atomically subtract delta (default 1) from a counter and return the new value")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapStateChanges();
        group.MapGet("/{**key}", (string key, HttpContext http) => Get(RouteKey.Decode(http, key), state.Value))
            .WithName("StateGet").RequireScope(Scopes.StateRead)
            .WithSummary("state_get: read a key's JSON value")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{**key}",
            (string key, HttpRequest request) => Set(RouteKey.Decode(request.HttpContext, key), request, state.Value, options.Value))
            .WithName("StateSet").RequireScope(Scopes.StateWrite)
            .WithSummary("state_set: store any JSON value under a key")
            .Accepts<JsonElement>("application/json", "*/*").ChecksJsonBodyItself()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        group.MapDelete("/{**key}", (string key, HttpContext http) => Delete(RouteKey.Decode(http, key), state.Value))
            .WithName("StateDelete").RequireScope(Scopes.StateWrite)
            .WithSummary("state_delete: remove a key; succeeds also when it is absent")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static async Task<Results<RawJson<StateEntry>, ProblemHttpResult>> Get(string key, IStateStore state)
    {
        var json = await state.GetJsonAsync(key);
        if (json is null)
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, type: Problems.ProblemTypes.NotFound,
                title: "Not found", detail: $"No value is stored under '{key}'.");
        return new RawJson<StateEntry>(w =>
        {
            w.WriteStartObject();
            w.WriteString("key"u8, key);
            w.WritePropertyName("value"u8);
            w.WriteRawValue(json, skipInputValidation: true);
            w.WriteEndObject();
        });
    }

    public static async Task<NoContent> Set(string key, HttpRequest request, IStateStore state, IOptions<HornbeamOptions> options)
    {
        var body = await RequestBody.ReadAsync(request, options.Value.MaxValueBytes);
        await state.SetJsonAsync(key, body);
        return TypedResults.NoContent();
    }

    public static async Task<NoContent> Delete(string key, IStateStore state)
    {
        await state.DeleteAsync(key);
        return TypedResults.NoContent();
    }

    public static async Task<RawJson<CounterValue>> Increment(string key, IStateStore state, HttpContext http, long delta = 1)
    {
        // With an Idempotency-Key the increment and the record of its answer are one script, so a retry applies it once.
        var once = http.Features.Get<IdempotentRequest>();
        return Counter(key, once is null ? await state.IncrementAsync(key, delta) : await state.IncrementAsync(key, delta, once));
    }

    public static async Task<RawJson<CounterValue>> Decrement(string key, IStateStore state, HttpContext http, long delta = 1)
    {
        var once = http.Features.Get<IdempotentRequest>();
        if (once is null) return Counter(key, await state.DecrementAsync(key, delta));
        if (delta == long.MinValue)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"delta {delta} cannot be negated; use increment with {long.MaxValue} plus one instead.");
        return Counter(key, await state.IncrementAsync(key, -delta, once));
    }

    // Written by hand like the other hot routes' answers: no serializer lookup, no async serialisation.
    private static RawJson<CounterValue> Counter(string key, long value) => new(w =>
    {
        w.WriteStartObject();
        w.WriteString("key"u8, key);
        w.WriteNumber("value"u8, value);
        w.WriteEndObject();
    });

    public static async Task<RawJson<StateValues>> GetMulti(HttpRequest http, IStateStore state, IOptions<HornbeamOptions> options)
    {
        // Read whole and parsed in one synchronous pass: cheaper than the framework's streaming body binding.
        var body = await RequestBody.ReadAsync(http, (int)Math.Min(options.Value.MaxRequestBodyBytes, int.MaxValue));
        // Read here once, so the JSON rule is applied to these bytes rather than by the middleware reading them before.
        JsonRules.Check(body.Span);
        StateMultiRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body.Span, HornbeamJsonContext.Default.StateMultiRequest);
        }
        catch (JsonException e)
        {
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"The body must be an object with a 'keys' array of strings, e.g. {{\"keys\": [\"user:1\"]}}: {e.Message}", e);
        }
        if (request?.Keys is null)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "The body must be an object with a 'keys' array of strings, e.g. {\"keys\": [\"user:1\"]}.");
        if (request.Keys.Any(k => k is null))
            throw new HornbeamException(HornbeamError.InvalidInput, "Every entry of 'keys' must be a string; null is not a key.");
        var values = await state.GetManyJsonAsync(request.Keys);
        return new RawJson<StateValues>(w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("values"u8);
            foreach (var (key, json) in values)
            {
                w.WritePropertyName(key);
                if (json is null) w.WriteNullValue();
                else w.WriteRawValue(json, skipInputValidation: true);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    public static async Task<Ok<StateKeysList>> Keys(IStateStore state, string? prefix = null, int? limit = null, string? cursor = null)
    {
        var page = await state.KeysAsync(prefix, limit, cursor);
        return TypedResults.Ok(new StateKeysList(page.Keys, page.Cursor));
    }
}

/// <summary>A key and its JSON value.</summary>
public sealed record StateEntry(string Key, JsonElement Value);

/// <summary>A counter's key and its value after the change.</summary>
public sealed record CounterValue(string Key, long Value);

/// <summary>The keys to read at once.</summary>
public sealed record StateMultiRequest(string[]? Keys);

/// <summary>Every requested key mapped to its value, or null when absent.</summary>
public sealed record StateValues(Dictionary<string, JsonElement?> Values);

/// <summary>A page of keys; pass <c>cursor</c> back to get the next page. It is null on the last page.</summary>
public sealed record StateKeysList(IReadOnlyList<string> Keys, string? Cursor);
