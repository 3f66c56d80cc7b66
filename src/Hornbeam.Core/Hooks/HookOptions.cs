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
