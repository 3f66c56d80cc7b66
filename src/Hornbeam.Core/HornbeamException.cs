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
    /// <summary>Redis cannot be reached or did not answer in time (503).</summary>
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
}

/// <summary>A failure the caller can act on; the message says what was wrong and never carries a stack trace.</summary>
public class HornbeamException(HornbeamError error, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The kind of failure.</summary>
    public HornbeamError Error { get; } = error;
}
