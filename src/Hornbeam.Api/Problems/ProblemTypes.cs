namespace Hornbeam.Api.Problems;

/// <summary>The stable <c>type</c> of every ProblemDetails Hornbeam answers, one per kind of error.</summary>
public static class ProblemTypes
{
    public const string InvalidInput = "urn:hornbeam:problem:invalid-input";
    public const string NotFound = "urn:hornbeam:problem:not-found";
    public const string Conflict = "urn:hornbeam:problem:conflict";
    public const string TooLarge = "urn:hornbeam:problem:too-large";
    public const string RedisUnavailable = "urn:hornbeam:problem:redis-unavailable";
    public const string Unauthorized = "urn:hornbeam:problem:unauthorized";
    public const string Forbidden = "urn:hornbeam:problem:forbidden";
    public const string RateLimited = "urn:hornbeam:problem:rate-limited";
    public const string HandlerFailed = "urn:hornbeam:problem:handler-failed";
    public const string BadGateway = "urn:hornbeam:problem:bad-gateway";
    public const string Timeout = "urn:hornbeam:problem:timeout";
    public const string Internal = "urn:hornbeam:problem:internal";

    public static (int Status, string Type, string Title) For(HornbeamError error) => error switch
    {
        HornbeamError.InvalidInput => (StatusCodes.Status400BadRequest, InvalidInput, "Invalid input"),
        HornbeamError.NotFound => (StatusCodes.Status404NotFound, NotFound, "Not found"),
        HornbeamError.Conflict => (StatusCodes.Status409Conflict, Conflict, "Conflict with stored data"),
        HornbeamError.TooLarge => (StatusCodes.Status413PayloadTooLarge, TooLarge, "Payload too large"),
        HornbeamError.Unavailable => (StatusCodes.Status503ServiceUnavailable, RedisUnavailable, "Redis unavailable"),
        HornbeamError.Forbidden => (StatusCodes.Status403Forbidden, Forbidden, "Forbidden"),
        HornbeamError.HandlerFailed => (StatusCodes.Status500InternalServerError, HandlerFailed, "Handler failed"),
        HornbeamError.BadGateway => (StatusCodes.Status502BadGateway, BadGateway, "Bad gateway"),
        HornbeamError.Timeout => (StatusCodes.Status504GatewayTimeout, Timeout, "Timed out"),
        _ => (StatusCodes.Status500InternalServerError, Internal, "Internal error"),
    };
}
