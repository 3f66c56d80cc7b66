using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Webhooks;

/// <summary>Which HTTP endpoints Hornbeam may call (HTTP-registered functions, HTTP hooks), bound from <c>Hornbeam:Webhooks</c>.</summary>
public sealed class WebhookOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Webhooks";

    /// <summary>Host names or addresses that may be registered; empty turns the feature off.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Largest response body accepted from an endpoint, in bytes.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Webhooks:MaxResponseBytes must be at least 1.")]
    public int MaxResponseBytes { get; set; } = 1024 * 1024;

    /// <summary>Most casts of HTTP functions this node has in flight at once; a cast beyond is refused with 503 overloaded.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Webhooks:MaxCastsInFlight must be at least 1.")]
    public int MaxCastsInFlight { get; set; } = 64;
}

/// <summary>Checks <see cref="WebhookOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class WebhookOptionsValidator : IValidateOptions<WebhookOptions>;
