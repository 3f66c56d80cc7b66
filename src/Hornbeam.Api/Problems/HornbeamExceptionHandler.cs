using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Metadata;

namespace Hornbeam.Api.Problems;

/// <summary>
/// Turns every exception into a ProblemDetails: the caller's mistakes into 4xx, a Redis outage into a fast 503, nothing
/// with a stack trace.
/// </summary>
internal sealed partial class HornbeamExceptionHandler(IProblemDetailsService problems, ILogger<HornbeamExceptionHandler> logger)
    : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        // Redis failures first: whether the request may have applied decides which 503 the client gets.
        if (Hornbeam.Redis.RedisFailures.Classify(exception, ChangesData(context)) is { } redis) exception = redis;
        var (status, type, title, detail) = exception switch
        {
            HornbeamException e => With(ProblemTypes.For(e.Error), e.Message),
            BadHttpRequestException e => e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? With(ProblemTypes.For(HornbeamError.TooLarge), e.Message)
                : (e.StatusCode, ProblemTypes.InvalidInput, "Invalid input", Describe(e, context)),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested =>
                (499, ProblemTypes.Internal, "Client closed request", "The client went away."),
            _ => (StatusCodes.Status500InternalServerError, ProblemTypes.Internal, "Internal error",
                "An unexpected error occurred; it has been logged."),
        };
        if (exception is HornbeamException && status >= 500) logger.LogWarning("{Method} {Path} failed: {Message}", context.Request.Method,
            context.Request.Path, exception.Message);
        else if (status >= 500 && status != StatusCodes.Status503ServiceUnavailable) logger.LogError(exception,
            "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
        else if (status == StatusCodes.Status503ServiceUnavailable) logger.LogWarning("Redis unavailable on {Method} {Path}: {Message}",
            context.Request.Method, context.Request.Path, exception.Message);

        if (context.Response.HasStarted) return true;
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "1";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = status, Type = type, Title = title, Detail = detail },
        });
    }

    private static bool ChangesData(HttpContext context) =>
        !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
        && Endpoint(context)?.Metadata.GetMetadata<ChangesNothingMetadata>() is null;

    // The exception handler middleware clears the endpoint before handlers run; the feature keeps the one that failed.
    private static Endpoint? Endpoint(HttpContext context) =>
        context.Features.Get<IExceptionHandlerFeature>()?.Endpoint ?? context.GetEndpoint();

    private static (int, string, string, string) With((int Status, string Type, string Title) kind, string detail) =>
        (kind.Status, kind.Type, kind.Title, detail);

    // A JSON error says where. The binder's own message names a C# parameter ("Nullable<long> lastEventIdHeader"); the
    // client knows the header or query parameter it sent, so the detail names that.
    private static string Describe(BadHttpRequestException e, HttpContext context)
    {
        if (e.InnerException is System.Text.Json.JsonException json) return $"The body is not valid JSON: {json.Message}";
        if (BindingFailure().Match(e.Message) is not { Success: true } failure) return e.Message;
        var name = failure.Groups["name"].Value;
        var parameter = Endpoint(context)?.Metadata.OfType<System.Reflection.MethodInfo>().FirstOrDefault()?
            .GetParameters().FirstOrDefault(p => p.Name == name);
        var (where, wire) = parameter?.GetCustomAttributes(true)
            .FirstOrDefault(a => a is IFromHeaderMetadata or IFromQueryMetadata or IFromRouteMetadata) switch
        {
            IFromHeaderMetadata h => ("header", h.Name ?? name),
            IFromQueryMetadata q => ("query parameter", q.Name ?? name),
            IFromRouteMetadata r => ("path segment", r.Name ?? name),
            _ => (context.Features.Get<IExceptionHandlerFeature>()?.RouteValues?.ContainsKey(name) == true
                ? "path segment"
                : "query parameter", name),
        };
        var type = Nullable.GetUnderlyingType(parameter?.ParameterType ?? typeof(object)) ?? parameter?.ParameterType;
        var expected = type == typeof(long) || type == typeof(int) ? "a whole number"
            : type == typeof(bool) ? "true or false"
            : "a valid value";
        return $"The {where} {wire} must be {expected}; it was '{failure.Groups["value"].Value}'.";
    }

    [System.Text.RegularExpressions.GeneratedRegex("^Failed to bind parameter \"\\S+ (?<name>\\w+)\" from \"(?<value>.*)\"\\.$")]
    private static partial System.Text.RegularExpressions.Regex BindingFailure();
}

/// <summary>A POST route that only reads (a multi-key get): a Redis failure there never leaves an unknown outcome.</summary>
internal sealed record ChangesNothingMetadata
{
    public static readonly ChangesNothingMetadata Instance = new();
}

/// <summary>Marks routes for the exception handler.</summary>
public static class ProblemConventions
{
    /// <summary>The route only reads, whatever its method.</summary>
    public static TBuilder ChangesNothing<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(ChangesNothingMetadata.Instance);
}
