namespace Hornbeam.Api.Problems;

/// <summary>
/// Gives a detail to the ProblemDetails the framework writes on its own (no route, wrong method, a Content-Type the route
/// does not take), so every error a client gets says what was wrong, as the ones Hornbeam writes do.
/// </summary>
internal static class StatusCodeDetails
{
    public static void Fill(ProblemDetailsContext context)
    {
        if (!string.IsNullOrEmpty(context.ProblemDetails.Detail)) return;
        var request = context.HttpContext.Request;
        context.ProblemDetails.Detail = context.ProblemDetails.Status switch
        {
            StatusCodes.Status404NotFound => $"No route answers {request.Method} {request.Path}.",
            StatusCodes.Status405MethodNotAllowed =>
                $"{request.Method} is not allowed on {request.Path}; the Allow header lists the methods that are.",
            StatusCodes.Status415UnsupportedMediaType =>
                $"The Content-Type '{request.ContentType}' is not taken here; send the body as application/json.",
            var status => $"The request was refused with status {status}.",
        };
    }
}
