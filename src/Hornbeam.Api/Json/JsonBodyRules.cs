using Hornbeam.Api.State;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Json;

/// <summary>
/// Holds every JSON request body to <see cref="JsonRules"/> before the framework binds it, so a body that breaks the
/// rule is a 400 on every route (the binder alone would store invalid UTF-8 as U+FFFD, keep the last of two equal
/// member names, and fail with a 500 on a lone surrogate escape). Routes whose handler reads the raw body and checks
/// it are marked <see cref="ChecksJsonBodyItself"/> and read the body once.
/// </summary>
internal sealed class JsonBodyRules(RequestDelegate next, IOptions<HornbeamOptions> options)
{
    private int Limit => (int)Math.Min(options.Value.MaxRequestBodyBytes, int.MaxValue);

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength == 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count == 0))
            return next(context);
        // A body over the limit is refused on every route, also where the handler would never read it (a counter
        // increment): the request is not applied.
        if (request.ContentLength > Limit) throw RequestBody.TooLarge(request.ContentLength.Value, Limit);
        var metadata = context.GetEndpoint()?.Metadata;
        if (metadata?.GetMetadata<IAcceptsMetadata>() is null) return DrainAsync(context);
        if (metadata.GetMetadata<ChecksJsonBodyItselfMetadata>() is not null) return next(context);
        return CheckAsync(context);
    }

    private async Task CheckAsync(HttpContext context)
    {
        var body = await RequestBody.ReadAsync(context.Request, Limit);
        JsonRules.Check(body.Span);
        // The bytes just read are handed to the binder as they are, not copied.
        context.Request.Body = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body, out var array)
            ? new MemoryStream(array.Array!, array.Offset, array.Count, writable: false)
            : new MemoryStream(body.ToArray(), writable: false);
        await next(context);
    }

    // A route that takes no body still holds a streamed (chunked) one to the limit before it applies anything.
    private async Task DrainAsync(HttpContext context)
    {
        await RequestBody.ReadAsync(context.Request, Limit);
        await next(context);
    }
}

/// <summary>Marks a route whose handler reads the raw body and applies <see cref="JsonRules"/> to it (itself or in Core).</summary>
internal sealed class ChecksJsonBodyItselfMetadata;

internal static class JsonBodyRulesExtensions
{
    /// <summary>Every JSON body follows <see cref="JsonRules"/>: after access control, before idempotency records anything.</summary>
    public static WebApplication UseJsonBodyRules(this WebApplication app)
    {
        app.UseMiddleware<JsonBodyRules>();
        return app;
    }

    /// <summary>The handler reads the raw body and checks it (itself or in Core); the body is not read twice.</summary>
    public static RouteHandlerBuilder ChecksJsonBodyItself(this RouteHandlerBuilder route) =>
        route.WithMetadata(new ChecksJsonBodyItselfMetadata());
}
