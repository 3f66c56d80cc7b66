using System.Security.Cryptography;
using Hornbeam.Idempotency;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Idempotency;

/// <summary>
/// Makes a POST with an <c>Idempotency-Key</c> header apply at most once, on any replica. On a route whose handler
/// records the answer with the change itself (state increments) it only hands the request to the handler; elsewhere it
/// claims the key, runs the route, and records the answer for retries, or releases the claim when the route changed
/// nothing. Routes without <see cref="IdempotencyMetadata"/> ignore the header, as idempotent methods may.
/// </summary>
internal sealed class IdempotencyMiddleware(RequestDelegate next, IIdempotencyStore store, IOptions<IdempotencyOptions> options,
    ILogger<IdempotencyMiddleware> logger)
{
    public const string Header = "Idempotency-Key";

    public Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Headers.TryGetValue(Header, out var values)
            || context.GetEndpoint()?.Metadata.GetMetadata<IdempotencyMetadata>() is not { } metadata
            || !HttpMethods.IsPost(context.Request.Method))
            return next(context);
        return RunOnceAsync(context, values.ToString(), metadata);
    }

    private async Task RunOnceAsync(HttpContext context, string key, IdempotencyMetadata metadata)
    {
        if (IdempotentRequest.Problem(key) is { } problem) throw new HornbeamException(HornbeamError.InvalidInput, problem);
        var request = new IdempotentRequest(Scope(context.Request), key, await FingerprintAsync(context.Request));
        if (metadata.AppliedByHandler)
        {
            context.Features.Set(request);
            await next(context);
            return;
        }

        if (await store.ClaimAsync(request) is IdempotencyClaim.Answered answered)
        {
            await ReplayAsync(context, answered.Answer);
            return;
        }
        var original = context.Response.Body;
        using var captured = new MemoryStream();
        context.Response.Body = captured;
        try
        {
            await next(context);
        }
        catch (Exception e)
        {
            context.Response.Body = original;
            // A failure that certainly changed nothing frees the key for a retry; any other is kept as the answer,
            // so the request never runs twice (the exception handler still answers this attempt).
            await KeepAsync(ChangedNothing(e) ? store.ReleaseAsync(request) : store.RecordAsync(request, Problem(e)));
            throw;
        }
        context.Response.Body = original;
        var body = captured.ToArray();
        await KeepAsync(store.RecordAsync(request, new StoredAnswer(context.Response.StatusCode, context.Response.ContentType,
            context.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null,
            body.Length <= options.Value.MaxStoredAnswerBytes ? body : [])));
        await original.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>
    /// This attempt's answer stands whether or not its record could be written; a record that could not be written
    /// leaves the claim pending, so retries within the window answer in-use rather than run the request again.
    /// </summary>
    private async Task KeepAsync(Task write)
    {
        try
        {
            await write;
        }
        catch (Exception e)
        {
            logger.LogWarning("Could not record an Idempotency-Key's answer; retries with that key will answer 409 until the window " +
                "ends: {Message}", e.Message);
        }
    }

    private static bool ChangedNothing(Exception e) =>
        (e is HornbeamException h ? h : Redis.RedisFailures.Classify(e, changesData: true)) is { } known
        && known.Error is HornbeamError.InvalidInput or HornbeamError.NotFound or HornbeamError.Conflict or HornbeamError.TooLarge
            or HornbeamError.Forbidden or HornbeamError.Unavailable or HornbeamError.Overloaded
        || e is BadHttpRequestException;

    private static StoredAnswer Problem(Exception e)
    {
        var kind = e is HornbeamException h ? h.Error : Redis.RedisFailures.Classify(e, changesData: true)?.Error ?? HornbeamError.Internal;
        var detail = e is HornbeamException ? e.Message : "The first request with this Idempotency-Key failed; its outcome is unknown.";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", HornbeamErrors.Type(kind));
            w.WriteString("title", HornbeamErrors.Title(kind));
            w.WriteNumber("status", HornbeamErrors.Status(kind));
            w.WriteString("detail", detail);
            w.WriteEndObject();
        }
        return new StoredAnswer(HornbeamErrors.Status(kind), "application/problem+json", null, buffer.WrittenSpan.ToArray());
    }

    private static async Task ReplayAsync(HttpContext context, StoredAnswer answer)
    {
        context.Response.StatusCode = answer.Status;
        if (answer.ContentType is not null) context.Response.ContentType = answer.ContentType;
        if (answer.Location is not null) context.Response.Headers.Location = answer.Location;
        await context.Response.Body.WriteAsync(answer.Body, context.RequestAborted);
    }

    /// <summary>Keys are per credential: the same key sent with two API keys names two requests.</summary>
    private static string Scope(HttpRequest request)
    {
        var credential = request.Headers["X-Api-Key"].ToString() is { Length: > 0 } direct
            ? direct
            : request.Headers.Authorization.ToString();
        return credential.Length == 0 ? "" : Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(credential)));
    }

    /// <summary>What the request asks for: method, path, query and (for routes with a body) the body's digest.</summary>
    private static async Task<string> FingerprintAsync(HttpRequest request)
    {
        var target = $"{request.Method} {request.Path}{request.QueryString}";
        if (request.ContentLength == 0 || (request.ContentLength is null && !request.Headers.TransferEncoding.Any())) return target;
        request.EnableBuffering();
        var digest = await SHA256.HashDataAsync(request.Body, request.HttpContext.RequestAborted);
        request.Body.Position = 0;
        return target + " " + Convert.ToHexStringLower(digest);
    }
}

/// <summary>
/// The route takes an <c>Idempotency-Key</c>; <paramref name="AppliedByHandler"/> when its handler records the answer
/// with the change.
/// </summary>
internal sealed record IdempotencyMetadata(bool AppliedByHandler);

/// <summary>Retries with an <c>Idempotency-Key</c> apply once.</summary>
public static class IdempotencySetup
{
    /// <summary>
    /// Lets POST routes take an <c>Idempotency-Key</c>; a route that <paramref name="appliedByHandler"/> reads it from
    /// the request's features.
    /// </summary>
    public static TBuilder AcceptsIdempotencyKey<TBuilder>(this TBuilder builder, bool appliedByHandler = false)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new IdempotencyMetadata(appliedByHandler))
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

    public static WebApplication UseIdempotency(this WebApplication app)
    {
        app.UseMiddleware<IdempotencyMiddleware>();
        return app;
    }
}
