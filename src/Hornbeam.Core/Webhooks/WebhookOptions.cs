using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Webhooks;

/// <summary>Which HTTP endpoints Hornbeam may call (HTTP-registered functions, HTTP hooks), bound from <c>Hornbeam:Webhooks</c>.</summary>
public sealed class WebhookOptions : IValidatableObject
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Webhooks";

    /// <summary>
    /// Where HTTP functions and hooks may be: each entry a host with its port (<c>hooks.internal:8080</c>,
    /// <c>10.0.0.7:8000</c>, <c>[fd00::7]:8000</c>, a range <c>10.0.0.0/8:8080</c>, or <c>https://hooks.internal:8443</c> for
    /// one scheme only); an entry without a port allows only the scheme's default port (80, 443). Empty turns the feature off.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Largest response body accepted from an endpoint, in bytes.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Webhooks:MaxResponseBytes must be at least 1.")]
    public int MaxResponseBytes { get; set; } = 1024 * 1024;

    /// <summary>Most casts of HTTP functions this node has in flight at once; a cast beyond is refused with 503 overloaded.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Webhooks:MaxCastsInFlight must be at least 1.")]
    public int MaxCastsInFlight { get; set; } = 64;

    /// <summary>
    /// Share of failed calls to one host (unreachable, timed out, 5xx) within <see cref="CircuitSamplingDuration"/>
    /// that opens its circuit.
    /// </summary>
    [SettingRange(typeof(double), "0.01", "1", ErrorMessage = "Hornbeam:Webhooks:CircuitFailureRatio must be between 0.01 and 1.")]
    public double CircuitFailureRatio { get; set; } = 0.5;

    /// <summary>Calls to one host within <see cref="CircuitSamplingDuration"/> before its failure ratio counts.</summary>
    [SettingRange(2, int.MaxValue, ErrorMessage = "Hornbeam:Webhooks:CircuitMinimumThroughput must be at least 2.")]
    public int CircuitMinimumThroughput { get; set; } = 10;

    /// <summary>The window over which calls to one host are counted.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.5", "1.00:00:00",
        ErrorMessage = "Hornbeam:Webhooks:CircuitSamplingDuration must be between 0.5 seconds and one day.")]
    public TimeSpan CircuitSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit refuses calls to its host before one trial call may pass.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.5", "1.00:00:00",
        ErrorMessage = "Hornbeam:Webhooks:CircuitBreakDuration must be between 0.5 seconds and one day.")]
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < AllowedHosts.Count; i++)
            if (!WebhookAllowList.TryParse(AllowedHosts[i], out _, out var error))
                yield return new ValidationResult(
                    $"Hornbeam:Webhooks:AllowedHosts:{i} '{AllowedHosts[i]}' {error} Entries are host:port, [v6]:port, address/prefix:port "
                    + "or http(s)://host:port.", [nameof(AllowedHosts)]);
    }
}

/// <summary>
/// Checks <see cref="WebhookOptions"/> at start-up; the body is source-generated from the attributes and calls the
/// allow-list's entry rule.
/// </summary>
[OptionsValidator]
internal sealed partial class WebhookOptionsValidator : IValidateOptions<WebhookOptions>;
