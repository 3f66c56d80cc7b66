using System.Globalization;
using Hornbeam.Api.Problems;

namespace Hornbeam.Api.Access;

/// <summary>
/// The 401, 403 and 429 answers of access control. Written as <c>application/problem+json</c> whatever the request's
/// Accept header says: a browser's EventSource asks for <c>text/event-stream</c> and must still read why it was refused.
/// A WebSocket upgrade is refused after it instead (<see cref="WebSocketRefusal"/>).
/// </summary>
internal static class AccessProblems
{
    public const string NoCredential = "Send an API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>', or a token from " +
                                       "POST /auth/tokens as 'Authorization: Bearer <token>'.";

    public static Task UnauthorizedAsync(HttpContext context, string detail, string? error = null)
    {
        // RFC 6750: the error code and its description say a client why its token failed, never the token itself.
        context.Response.Headers.WWWAuthenticate = error is null
            ? "Bearer"
            : $"Bearer error=\"{error}\", error_description=\"{detail.Replace('"', '\'')}\"";
        return WriteAsync(context, StatusCodes.Status401Unauthorized, ProblemTypes.Unauthorized, "Unauthorized", detail);
    }

    public static Task ForbiddenAsync(HttpContext context, string detail) =>
        WriteAsync(context, StatusCodes.Status403Forbidden, ProblemTypes.Forbidden, "Forbidden", detail);

    public static Task TooManyAsync(HttpContext context, TimeSpan wait, string detail)
    {
        context.Response.Headers.RetryAfter = Seconds(wait).ToString(CultureInfo.InvariantCulture);
        return WriteAsync(context, StatusCodes.Status429TooManyRequests, ProblemTypes.RateLimited, "Too many requests", detail);
    }

    public static Task TooManyFailuresAsync(HttpContext context, TimeSpan left) =>
        TooManyAsync(context, left, $"Too many invalid API keys from this address; retry after {Seconds(left)} s.");

    public static int Seconds(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));

    private static Task WriteAsync(HttpContext context, int status, string type, string title, string detail) =>
        WebSocketRefusal.Applies(context)
            ? WebSocketRefusal.RefuseAsync(context, status, type, title, detail)
            : TypedResults.Problem(statusCode: status, type: type, title: title, detail: detail).ExecuteAsync(context);
}
