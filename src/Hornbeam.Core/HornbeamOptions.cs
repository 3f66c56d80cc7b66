using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam;

/// <summary>Settings bound from the <c>Hornbeam</c> configuration section; defaults live here.</summary>
public sealed class HornbeamOptions : IValidatableObject
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam";

    /// <summary>Namespace that every Redis key Hornbeam writes starts with.</summary>
    [Required(ErrorMessage = "Hornbeam:Prefix must not be empty.")]
    public string Prefix { get; set; } = "hornbeam:";

    /// <summary>This process's node name; generated (<c>hornbeam-xxxxxx@host</c>) when empty.</summary>
    public string? NodeName { get; set; }

    /// <summary>Longest state key accepted, in UTF-8 bytes.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:MaxKeyBytes must be at least 1.")]
    public int MaxKeyBytes { get; set; } = 1024;

    /// <summary>Largest state value accepted, in UTF-8 bytes of JSON.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:MaxValueBytes must be at least 1.")]
    public int MaxValueBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest request body the server reads at all, on any route (Kestrel's limit).</summary>
    public long MaxRequestBodyBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>Most keys one <c>get-many</c> or bulk set may name, and most operations in one transaction.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:MaxMultiKeys must be at least 1.")]
    public int MaxMultiKeys { get; set; } = 1000;

    /// <summary>Most keys one page of <c>keys</c> returns.</summary>
    public int MaxKeysPage { get; set; } = 10_000;

    /// <summary>Page size of <c>keys</c> when the caller gives none.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = DefaultKeysPageMessage)]
    public int DefaultKeysPage { get; set; } = 1000;

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (Prefix is not null && Prefix.AsSpan().IndexOfAny('{', '}') >= 0)
            yield return new ValidationResult("Hornbeam:Prefix must not contain '{' or '}' (they would change Redis Cluster hash slots).",
                [nameof(Prefix)]);
        if (NodeName is { } n && n.Trim().Any(c => char.IsWhiteSpace(c) || c is '{' or '}' or '/'))
            yield return new ValidationResult(
                "Hornbeam:NodeName must not contain white space, '/', '{' or '}' (it is part of URLs and Redis keys).", [nameof(NodeName)]);
        if (MaxRequestBodyBytes < MaxValueBytes)
            yield return new ValidationResult("Hornbeam:MaxRequestBodyBytes must be at least Hornbeam:MaxValueBytes.",
                [nameof(MaxRequestBodyBytes)]);
        if (DefaultKeysPage > MaxKeysPage) yield return new ValidationResult(DefaultKeysPageMessage, [nameof(DefaultKeysPage)]);
    }

    private const string DefaultKeysPageMessage = "Hornbeam:DefaultKeysPage must be between 1 and Hornbeam:MaxKeysPage.";
}

/// <summary>
/// Checks <see cref="HornbeamOptions"/> at start-up;
/// the body is source-generated from the attributes and calls the cross-field rules.
/// </summary>
[OptionsValidator]
internal sealed partial class HornbeamOptionsValidator : IValidateOptions<HornbeamOptions>;
