using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>API keys and what each may do, bound from <c>Hornbeam:Auth</c>.</summary>
public sealed class AccessOptions : IValidatableObject
{
    public const string Section = "Hornbeam:Auth";

    /// <summary>
    /// Whether requests must carry an API key. Unset means: on when keys are configured; off in Development
    /// without keys (with a warning); and outside Development without keys the service refuses to start.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>The accepted keys.</summary>
    [ValidateEnumeratedItems]
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>
    /// Invalid keys one client address may present per minute, counted across all replicas; past it the address gets
    /// 429 for the rest of the minute, whatever key it sends on a new connection. 0 means no limit.
    /// </summary>
    public int FailedAttemptsPerMinute { get; set; } = 30;

    /// <summary>Short-lived signed tokens minted with <c>POST /auth/tokens</c>, for browsers (<c>Hornbeam:Auth:Tokens</c>).</summary>
    [ValidateObjectMembers]
    public TokenOptions Tokens { get; set; } = new();

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (FailedAttemptsPerMinute < 0)
            yield return new ValidationResult("Hornbeam:Auth:FailedAttemptsPerMinute must be 0 (no limit) or more.",
                [nameof(FailedAttemptsPerMinute)]);
    }
}

/// <summary>One API key.</summary>
public sealed class ApiKeyOptions : IValidatableObject
{
    /// <summary>A name for logs and metrics; the key itself is never logged.</summary>
    public string? Name { get; set; }

    /// <summary>The secret the client sends as <c>Authorization: Bearer</c> or <c>X-Api-Key</c>.</summary>
    public string Key { get; set; } = "";

    /// <summary>
    /// What the key may do: <c>state:read</c>, <c>state:write</c>, <c>pubsub</c>, <c>invoke</c>, <c>admin</c>, <c>tokens</c>.
    /// </summary>
    public List<string> Scopes { get; set; } = [];

    /// <summary>Requests per second this key may make; overrides <c>Hornbeam:RateLimit:PermitsPerSecond</c>.</summary>
    public int? PermitsPerSecond { get; set; }

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(Key))
            yield return new ValidationResult("Every Hornbeam:Auth:Keys entry needs a non-empty Key.", [nameof(Key)]);
        if (Scopes.FirstOrDefault(s => !Access.Scopes.All.Contains(s)) is { } unknown)
            yield return new ValidationResult(
                $"Unknown scope '{unknown}' in Hornbeam:Auth:Keys; known scopes: {string.Join(", ", Access.Scopes.All)}.",
                [nameof(Scopes)]);
        if (PermitsPerSecond < 0)
            yield return new ValidationResult("Hornbeam:Auth:Keys:*:PermitsPerSecond must be 0 (no limit) or more.",
                [nameof(PermitsPerSecond)]);
        // A bearer value shaped like a JWT is read as a token, so such a key could never be presented as one.
        if (AccessSchemes.LooksLikeToken(Key))
            yield return new ValidationResult("A Hornbeam:Auth:Keys entry's Key may not look like a JWT (eyJ..., three parts separated " +
                "by dots): such a bearer value is read as a token. Choose another key.", [nameof(Key)]);
    }
}

/// <summary>The scopes a key can hold; each route requires one.</summary>
public static class Scopes
{
    public const string StateRead = "state:read";
    public const string StateWrite = "state:write";
    public const string PubSub = "pubsub";
    public const string Invoke = "invoke";
    public const string Admin = "admin";
    /// <summary>Minting browser tokens (<c>POST /auth/tokens</c>); <c>admin</c> may too.</summary>
    public const string Tokens = "tokens";

    public static readonly string[] All = [StateRead, StateWrite, PubSub, Invoke, Admin, Tokens];
}

/// <summary>Checks <see cref="AccessOptions"/> and each key at start-up; the body is source-generated and calls the rules above.</summary>
[OptionsValidator]
internal sealed partial class AccessOptionsValidator : IValidateOptions<AccessOptions>;
