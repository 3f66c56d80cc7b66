namespace Hornbeam.Hooks;

/// <summary>Settings of hooks, bound from <c>Hornbeam:Hooks</c>.</summary>
public sealed class HookOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Hornbeam:Hooks";

    /// <summary>How long one call to an HTTP hook may take, in seconds; a stream may take this long to start.</summary>
    public int HttpTimeoutSeconds { get; set; } = 30;

    internal string? Validate() => HttpTimeoutSeconds < 1 ? "Hornbeam:Hooks:HttpTimeoutSeconds must be at least 1." : null;
}

/// <summary>
/// The hosts HTTP hooks may point at, bound from <c>Hornbeam:Webhooks</c> (the section HTTP-registered functions use).
/// TODO(cluster): unify with the cluster capability's webhook rules when it lands, so there is one allow-list check.
/// </summary>
public sealed class HookWebhookOptions
{
    /// <summary>The configuration section shared with HTTP-registered functions.</summary>
    public const string Section = "Hornbeam:Webhooks";

    /// <summary>Host names or addresses an HTTP hook may be registered on; empty turns HTTP hooks off.</summary>
    public List<string> AllowedHosts { get; set; } = [];
}
