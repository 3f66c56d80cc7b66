using System.Globalization;
using System.Text.Json;
using Hornbeam.Api.Access;
using Hornbeam.Api.Hosting;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Idempotency;
using Hornbeam.State;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.State;

/// <summary>
/// Shared state over REST: the seed's state_get, state_set, state_delete, state_incr, state_decr, state_get_multi and
/// state_keys, with lifetimes (ttl_seconds), ETag conditions (If-Match, If-None-Match), transactions and bulk set.
/// </summary>
public static partial class StateApi
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
        group.MapPost("/transaction", (HttpRequest http) => Transaction(http, state.Value, options.Value))
            // Under one Idempotency-Key a transaction applies at most once: its increments would add again on a retry.
            .WithName("StateTransaction").RequireScope(Scopes.StateWrite).AcceptsIdempotencyKey()
            .WithSummary("Apply set, delete and incr operations on keys of one hash slot: all of them or none")
            .Accepts<StateTransactionRequest>("application/json").ChecksJsonBodyItself()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        group.MapPost("/bulk", (HttpRequest http, [FromQuery(Name = "ttl_seconds")] int? ttlSeconds) =>
                Bulk(http, state.Value, options.Value, ttlSeconds))
            .WithName("StateBulkSet").RequireScope(Scopes.StateWrite)
            .WithSummary("state_set of many keys in one call; not atomic: each key is answered on its own")
            .Accepts<StateBulkRequest>("application/json").ChecksJsonBodyItself()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        group.MapPost("/incr/{**key}",
            (string key, HttpContext http, long delta = 1, [FromQuery(Name = "ttl_seconds")] int? ttlSeconds = null) =>
                Increment(RouteKey.Decode(http, key), state.Value, http, delta, ttlSeconds))
            .WithName("StateIncr").RequireScope(Scopes.StateWrite).AcceptsIdempotencyKey(appliedByHandler: true)
            .WithSummary("state_incr: atomically add delta (default 1) to a counter and return the new value")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/decr/{**key}",
            (string key, HttpContext http, long delta = 1, [FromQuery(Name = "ttl_seconds")] int? ttlSeconds = null) =>
                Decrement(RouteKey.Decode(http, key), state.Value, http, delta, ttlSeconds))
            .WithName("StateDecr").RequireScope(Scopes.StateWrite).AcceptsIdempotencyKey(appliedByHandler: true)
            .WithSummary("state_decr: atomically subtract delta (default 1) from a counter and return the new value")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapStateChanges();
        group.MapGet("/{**key}", (string key, HttpContext http) => Get(RouteKey.Decode(http, key), state.Value, http))
            .WithName("StateGet").RequireScope(Scopes.StateRead)
            .WithSummary("state_get: read a key's JSON value")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{**key}",
            (string key, HttpRequest request, [FromQuery(Name = "ttl_seconds")] int? ttlSeconds,
                [FromHeader(Name = "If-Match")] string? ifMatch, [FromHeader(Name = "If-None-Match")] string? ifNoneMatch) =>
                Set(RouteKey.Decode(request.HttpContext, key), request, state.Value, options.Value, ttlSeconds, ifMatch, ifNoneMatch))
            .WithName("StateSet").RequireScope(Scopes.StateWrite)
            .WithSummary("state_set: store any JSON value under a key, optionally with a lifetime or only if its ETag matches")
            .Accepts<JsonElement>("application/json", "*/*").ChecksJsonBodyItself()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        group.MapDelete("/{**key}", (string key, HttpContext http, [FromHeader(Name = "If-Match")] string? ifMatch) =>
                Delete(RouteKey.Decode(http, key), state.Value, ifMatch))
            .WithName("StateDelete").RequireScope(Scopes.StateWrite)
            .WithSummary("state_delete: remove a key; succeeds also when it is absent, unless If-Match is given")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status412PreconditionFailed);

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    /// <summary>The answer header that says how many seconds a key has left (rounded up); absent when it has no lifetime.</summary>
    public const string TtlHeader = "Hornbeam-Ttl-Seconds";

    public static async Task<Results<RawJson<StateEntry>, ProblemHttpResult>> Get(string key, IStateStore state, HttpContext http)
    {
        var item = await state.GetItemAsync(key);
        if (item is null)
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, type: Problems.ProblemTypes.NotFound,
                title: "Not found", detail: $"No value is stored under '{key}'.");
        var json = item.Json;
        http.Response.Headers.ETag = item.ETag;
        if (item.TimeToLive is { } ttl)
            http.Response.Headers[TtlHeader] = ((long)Math.Ceiling(ttl.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return new RawJson<StateEntry>(w =>
        {
            w.WriteStartObject();
            w.WriteString("key"u8, key);
            w.WritePropertyName("value"u8);
            w.WriteRawValue(json, skipInputValidation: true);
            w.WriteEndObject();
        });
    }

    public static async Task<NoContent> Set(string key, HttpRequest request, IStateStore state, IOptions<HornbeamOptions> options,
        int? ttlSeconds = null, string? ifMatch = null, string? ifNoneMatch = null)
    {
        var ttl = Lifetime(ttlSeconds);
        var body = await RequestBody.ReadAsync(request, options.Value.MaxValueBytes);
        request.HttpContext.Response.Headers.ETag = await state.SetJsonAsync(key, body,
            new StateSetOptions { TimeToLive = ttl, IfMatch = ifMatch, IfNoneMatch = ifNoneMatch });
        return TypedResults.NoContent();
    }

    public static async Task<NoContent> Delete(string key, IStateStore state, string? ifMatch = null)
    {
        await (ifMatch is null ? state.DeleteAsync(key) : state.DeleteAsync(key, ifMatch));
        return TypedResults.NoContent();
    }

    public static async Task<RawJson<CounterValue>> Increment(string key, IStateStore state, HttpContext http, long delta = 1,
        int? ttlSeconds = null)
    {
        // With an Idempotency-Key the increment and the record of its answer are one script, so a retry applies it once.
        var once = http.Features.Get<IdempotentRequest>();
        if (Lifetime(ttlSeconds) is { } ttl)
            return Counter(key, once is null
                ? await state.IncrementAsync(key, delta, ttl)
                : await state.IncrementAsync(key, delta, ttl, once));
        return Counter(key, once is null ? await state.IncrementAsync(key, delta) : await state.IncrementAsync(key, delta, once));
    }

    public static async Task<RawJson<CounterValue>> Decrement(string key, IStateStore state, HttpContext http, long delta = 1,
        int? ttlSeconds = null)
    {
        var once = http.Features.Get<IdempotentRequest>();
        if (once is null && ttlSeconds is null) return Counter(key, await state.DecrementAsync(key, delta));
        if (delta == long.MinValue)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"delta {delta} cannot be negated; use increment with {long.MaxValue} plus one instead.");
        return await Increment(key, state, http, -delta, ttlSeconds);
    }

    /// <summary>The lifetime <c>ttl_seconds</c> asks for; null when not given.</summary>
    internal static TimeSpan? Lifetime(int? ttlSeconds) => ttlSeconds switch
    {
        null => null,
        < 1 => throw new HornbeamException(HornbeamError.InvalidInput,
            $"ttl_seconds must be a whole number of seconds from 1 to {int.MaxValue}; it was {ttlSeconds}."),
        { } seconds => TimeSpan.FromSeconds(seconds),
    };

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
