namespace Hornbeam.Api.Problems;

/// <summary>The stable <c>type</c> of every ProblemDetails Hornbeam answers, one per kind of error.</summary>
public static class ProblemTypes
{
    public const string InvalidInput = HornbeamErrors.TypePrefix + "invalid-input";
    public const string NotFound = HornbeamErrors.TypePrefix + "not-found";
    public const string Conflict = HornbeamErrors.TypePrefix + "conflict";
    public const string PreconditionFailed = HornbeamErrors.TypePrefix + "precondition-failed";
    public const string TooLarge = HornbeamErrors.TypePrefix + "too-large";
    public const string RedisUnavailable = HornbeamErrors.TypePrefix + "redis-unavailable";
    public const string OutcomeUnknown = HornbeamErrors.TypePrefix + "outcome-unknown";
    public const string Unauthorized = HornbeamErrors.TypePrefix + "unauthorized";
    public const string Forbidden = HornbeamErrors.TypePrefix + "forbidden";
    public const string RateLimited = HornbeamErrors.TypePrefix + "rate-limited";
    public const string TokensNotConfigured = HornbeamErrors.TypePrefix + "tokens-not-configured";
    public const string HandlerFailed = HornbeamErrors.TypePrefix + "handler-failed";
    public const string BadGateway = HornbeamErrors.TypePrefix + "bad-gateway";
    public const string Timeout = HornbeamErrors.TypePrefix + "timeout";
    public const string Overloaded = HornbeamErrors.TypePrefix + "overloaded";
    public const string Internal = HornbeamErrors.TypePrefix + "internal";

    /// <summary>Status, type and title of an error kind: the same encoding Core uses on RPC replies, hook streams and tasks.</summary>
    public static (int Status, string Type, string Title) For(HornbeamError error) =>
        (HornbeamErrors.Status(error), HornbeamErrors.Type(error), HornbeamErrors.Title(error));
}
