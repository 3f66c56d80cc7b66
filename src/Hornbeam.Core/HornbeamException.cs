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
}

/// <summary>A failure the caller can act on; the message says what was wrong and never carries a stack trace.</summary>
public class HornbeamException(HornbeamError error, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The kind of failure.</summary>
    public HornbeamError Error { get; } = error;
}
