using Microsoft.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace Hornbeam.Api.Problems;

/// <summary>Turns every exception into a ProblemDetails: the caller's mistakes into 4xx, a Redis outage into a fast 503, nothing with a stack trace.</summary>
internal sealed class HornbeamExceptionHandler(IProblemDetailsService problems, ILogger<HornbeamExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, type, title, detail) = exception switch
        {
            HornbeamException e => With(ProblemTypes.For(e.Error), e.Message),
            BadHttpRequestException e => e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? With(ProblemTypes.For(HornbeamError.TooLarge), e.Message)
                : (e.StatusCode, ProblemTypes.InvalidInput, "Invalid input", Describe(e)),
            RedisConnectionException or RedisTimeoutException => With(ProblemTypes.For(HornbeamError.Unavailable),
                "Redis did not answer; retry shortly. Hornbeam reconnects by itself when Redis is back."),
            RedisServerException e when IsTransient(e) => With(ProblemTypes.For(HornbeamError.Unavailable),
                $"Redis cannot serve this right now ({e.Message.Split(' ')[0]}: a failover or restart is under way); retry shortly."),
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

    // A cluster mid-failover, or a server still loading its data, answers these until it can serve again.
    private static bool IsTransient(RedisServerException e) =>
        e.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal) || e.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal) ||
        e.Message.StartsWith("LOADING", StringComparison.Ordinal) || e.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal) ||
        e.Message.StartsWith("READONLY", StringComparison.Ordinal) || e.Message.StartsWith("NOREPLICAS", StringComparison.Ordinal);

    private static (int, string, string, string) With((int Status, string Type, string Title) kind, string detail) => (kind.Status, kind.Type, kind.Title, detail);

    // Binding messages name the parameter and the text that failed; a JSON error says where.
    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is System.Text.Json.JsonException json ? $"The body is not valid JSON: {json.Message}" : e.Message;
}
