using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Cors;

/// <summary>Which web pages may call the API from a browser, bound from <c>Hornbeam:Cors</c>.</summary>
public sealed class HornbeamCorsOptions : IValidatableObject
{
    public const string Section = "Hornbeam:Cors";

    /// <summary>
    /// The origins (<c>scheme://host[:port]</c>, as a browser sends them) whose pages may call the API, or <c>*</c> alone
    /// for any page. Empty, the default: no CORS header on any answer, so browsers let no other origin read one.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>How long a browser may reuse a preflight's answer (<c>Access-Control-Max-Age</c>), in seconds.</summary>
    public int PreflightMaxAgeSeconds { get; set; } = 600;

    /// <summary>Any page may call the API.</summary>
    public bool AllowsAnyOrigin => AllowedOrigins is ["*"];

    private static bool IsOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is ("http" or "https") && uri.UserInfo.Length == 0
        && string.Equals(origin, uri.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase);

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < AllowedOrigins.Count; i++)
        {
            var origin = AllowedOrigins[i];
            if (origin == "*")
            {
                if (AllowedOrigins.Count > 1)
                    yield return new ValidationResult("Hornbeam:Cors:AllowedOrigins: '*' (any origin) must be the only entry.",
                        [nameof(AllowedOrigins)]);
            }
            // A browser sends scheme://host[:port] and nothing else: an entry with a path, a trailing slash or a default port
            // would never match, and the page would be refused with no hint why.
            else if (!IsOrigin(origin))
                yield return new ValidationResult(
                    $"Hornbeam:Cors:AllowedOrigins:{i} '{origin}' is not an origin: write scheme://host[:port] as a browser sends it, " +
                    "such as https://app.example.com, with no path, trailing slash or default port.", [nameof(AllowedOrigins)]);
        }
        if (PreflightMaxAgeSeconds is < 0 or > 86_400)
            yield return new ValidationResult("Hornbeam:Cors:PreflightMaxAgeSeconds must be between 0 and 86400.",
                [nameof(PreflightMaxAgeSeconds)]);
    }
}

/// <summary>Checks <see cref="HornbeamCorsOptions"/> at start-up; the body is source-generated and calls the rules above.</summary>
[OptionsValidator]
internal sealed partial class HornbeamCorsOptionsValidator : IValidateOptions<HornbeamCorsOptions>;
