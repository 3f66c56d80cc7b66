using Microsoft.AspNetCore.Diagnostics;

namespace Hornbeam.Api.Problems;

/// <summary>Turns every exception into a ProblemDetails: the caller's mistakes into 4xx, a Redis outage into a fast 503, nothing with a stack trace.</summary>
internal sealed class HornbeamExceptionHandler(IProblemDetailsService problems, ILogger<HornbeamExceptionHandler> logger) : IExceptionHandler
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
                : (e.StatusCode, ProblemTypes.InvalidInput, "Invalid input", Describe(e)),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, ProblemTypes.Internal, "Client closed request", "The client went away."),
            _ => (StatusCodes.Status500InternalServerError, ProblemTypes.Internal, "Internal error", "An unexpected error occurred; it has been logged."),
        };
        if (exception is HornbeamException && status >= 500) logger.LogWarning("{Method} {Path} failed: {Message}", context.Request.Method, context.Request.Path, exception.Message);
        else if (status >= 500 && status != StatusCodes.Status503ServiceUnavailable) logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
        else if (status == StatusCodes.Status503ServiceUnavailable) logger.LogWarning("Redis unavailable on {Method} {Path}: {Message}", context.Request.Method, context.Request.Path, exception.Message);

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
        && context.GetEndpoint()?.Metadata.GetMetadata<ChangesNothingMetadata>() is null;

    private static (int, string, string, string) With((int Status, string Type, string Title) kind, string detail) => (kind.Status, kind.Type, kind.Title, detail);

    // Binding messages name the parameter and the text that failed; a JSON error says where.
    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is System.Text.Json.JsonException json ? $"The body is not valid JSON: {json.Message}" : e.Message;
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
