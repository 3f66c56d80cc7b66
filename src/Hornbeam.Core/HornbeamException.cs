namespace Hornbeam;

/// <summary>What kind of failure a <see cref="HornbeamException"/> reports; each maps to one HTTP status and problem type.</summary>
public enum HornbeamError
{
    /// <summary>The caller's input is malformed or out of range (400).</summary>
    InvalidInput,
    /// <summary>The named thing does not exist (404).</summary>
    NotFound,
    /// <summary>The stored data does not allow the operation, e.g. incrementing text (409).</summary>
    Conflict,
    /// <summary>The input is larger than the configured limit (413).</summary>
    TooLarge,
    /// <summary>Redis cannot be reached or refused the command: the change was certainly not applied; retry (503).</summary>
    Unavailable,
    /// <summary>The caller may not do this, e.g. register a host outside the allow-list (403).</summary>
    Forbidden,
    /// <summary>A user-supplied handler (function, hook) ran and failed (500, its own problem type).</summary>
    HandlerFailed,
    /// <summary>Another node or an HTTP endpoint answered with a failure (502).</summary>
    BadGateway,
    /// <summary>The work did not finish before its deadline (504).</summary>
    Timeout,
    /// <summary>This node is at a configured capacity limit; another node or a retry may succeed (503).</summary>
    Overloaded,
    /// <summary>
    /// Redis may have applied the change but did not confirm it (no answer within the deadline, or fewer replicas than
    /// <c>Hornbeam:Redis:WaitReplicas</c> acknowledged it): retry only with the same <c>Idempotency-Key</c> (503).
    /// </summary>
    OutcomeUnknown,
    /// <summary>An <c>Idempotency-Key</c> already used for a different request (422).</summary>
    IdempotencyKeyReused,
    /// <summary>A request with the same <c>Idempotency-Key</c> has not answered yet, or its node stopped before it did (409).</summary>
    IdempotencyKeyInUse,
    /// <summary>A condition of the request (<c>If-Match</c>, <c>If-None-Match</c>) does not hold; nothing was changed (412).</summary>
    PreconditionFailed,
    /// <summary>Something failed that is no caller's doing (500).</summary>
    Internal,
}

/// <summary>A failure the caller can act on; the message says what was wrong and never carries a stack trace.</summary>
public class HornbeamException(HornbeamError error, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The kind of failure.</summary>
    public HornbeamError Error { get; } = error;
}

/// <summary>
/// The one encoding of an error kind on every wire: HTTP ProblemDetails, RPC replies, hook streams and stored tasks all
/// carry the same <c>type</c> URN (and HTTP status), so a failure keeps its kind across replicas.
/// </summary>
public static class HornbeamErrors
{
    /// <summary>Every problem type starts with this.</summary>
    public const string TypePrefix = "urn:hornbeam:problem:";

    /// <summary>The problem type URN of <paramref name="error"/>, e.g. <c>urn:hornbeam:problem:conflict</c>.</summary>
    public static string Type(HornbeamError error) => TypePrefix + Code(error);

    /// <summary>The last part of the problem type, e.g. <c>conflict</c>.</summary>
    public static string Code(HornbeamError error) => error switch
    {
        HornbeamError.InvalidInput => "invalid-input",
        HornbeamError.NotFound => "not-found",
        HornbeamError.Conflict => "conflict",
        HornbeamError.TooLarge => "too-large",
        HornbeamError.Unavailable => "redis-unavailable",
        HornbeamError.Forbidden => "forbidden",
        HornbeamError.HandlerFailed => "handler-failed",
        HornbeamError.BadGateway => "bad-gateway",
        HornbeamError.Timeout => "timeout",
        HornbeamError.Overloaded => "overloaded",
        HornbeamError.OutcomeUnknown => "outcome-unknown",
        HornbeamError.IdempotencyKeyReused => "idempotency-key-reused",
        HornbeamError.IdempotencyKeyInUse => "idempotency-key-in-use",
        HornbeamError.PreconditionFailed => "precondition-failed",
        _ => "internal",
    };

    /// <summary>The HTTP status that answers <paramref name="error"/>.</summary>
    public static int Status(HornbeamError error) => error switch
    {
        HornbeamError.InvalidInput => 400,
        HornbeamError.NotFound => 404,
        HornbeamError.Conflict or HornbeamError.IdempotencyKeyInUse => 409,
        HornbeamError.IdempotencyKeyReused => 422,
        HornbeamError.PreconditionFailed => 412,
        HornbeamError.TooLarge => 413,
        HornbeamError.Forbidden => 403,
        HornbeamError.BadGateway => 502,
        HornbeamError.Timeout => 504,
        HornbeamError.Unavailable or HornbeamError.Overloaded or HornbeamError.OutcomeUnknown => 503,
        _ => 500,
    };

    /// <summary>A short title for <paramref name="error"/>.</summary>
    public static string Title(HornbeamError error) => error switch
    {
        HornbeamError.InvalidInput => "Invalid input",
        HornbeamError.NotFound => "Not found",
        HornbeamError.Conflict => "Conflict with stored data",
        HornbeamError.TooLarge => "Payload too large",
        HornbeamError.Unavailable => "Redis unavailable",
        HornbeamError.Forbidden => "Forbidden",
        HornbeamError.HandlerFailed => "Handler failed",
        HornbeamError.BadGateway => "Bad gateway",
        HornbeamError.Timeout => "Timed out",
        HornbeamError.Overloaded => "At capacity",
        HornbeamError.OutcomeUnknown => "Outcome unknown",
        HornbeamError.IdempotencyKeyReused => "Idempotency-Key reused",
        HornbeamError.IdempotencyKeyInUse => "Idempotency-Key in use",
        HornbeamError.PreconditionFailed => "Precondition failed",
        _ => "Internal error",
    };

    /// <summary>Reads a problem type (the full URN or its last part) back into its kind; false for any other text.</summary>
    public static bool TryParse(string? type, out HornbeamError error)
    {
        var code = type is not null && type.StartsWith(TypePrefix, StringComparison.Ordinal) ? type[TypePrefix.Length..] : type;
        foreach (var candidate in Enum.GetValues<HornbeamError>())
        {
            if (Code(candidate) != code) continue;
            error = candidate;
            return true;
        }
        error = HornbeamError.Internal;
        return false;
    }
}
