namespace Hornbeam.Webhooks;

/// <summary>Which HTTP endpoints Hornbeam may call (HTTP-registered functions, HTTP hooks), bound from <c>Hornbeam:Webhooks</c>.</summary>
public sealed class WebhookOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Webhooks";

    /// <summary>Host names or addresses that may be registered; empty turns the feature off.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Largest response body accepted from an endpoint, in bytes.</summary>
    public int MaxResponseBytes { get; set; } = 1024 * 1024;

    /// <summary>Most casts of HTTP functions this node has in flight at once; a cast beyond is refused with 503 overloaded.</summary>
    public int MaxCastsInFlight { get; set; } = 64;

    internal string? Validate() =>
        MaxResponseBytes < 1 ? "Hornbeam:Webhooks:MaxResponseBytes must be at least 1."
        : MaxCastsInFlight < 1 ? "Hornbeam:Webhooks:MaxCastsInFlight must be at least 1."
        : null;
}
