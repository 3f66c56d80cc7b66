using System.Text.RegularExpressions;

namespace Hornbeam.Hooks;

/// <summary>
/// Hook identifiers (<c>app_path</c>) and action names are one URL segment each: letters, digits and <c>_ . -</c>,
/// so <c>/hooks/{app_path}/{action}</c> is never ambiguous and an app_path is also a valid RPC function name.
/// </summary>
public static partial class HookNames
{
    /// <summary>Longest app_path or action, in characters.</summary>
    public const int MaxLength = 200;

    [GeneratedRegex("^[A-Za-z0-9_.-]+$")]
    private static partial Regex Name();

    /// <summary>
    /// Throws <see cref="HornbeamException"/> (invalid input) when <paramref name="appPath"/> or
    /// <paramref name="action"/> is no valid name.
    /// </summary>
    public static void Validate(string appPath, string? action = null)
    {
        Check("app_path", appPath);
        if (action is not null) Check("action", action);
    }

    private static void Check(string what, string value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength || !Name().IsMatch(value))
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"'{value}' is not a valid {what}: use 1 to {MaxLength} letters, digits, '_', '.' or '-' (no '/' or ':').");
    }

    /// <summary><c>get_embedding</c> and <c>get-embedding</c> become <c>GetEmbedding</c>.</summary>
    internal static string ToPascal(string action) =>
        string.Concat(action.Split(['_', '-', '.'], StringSplitOptions.RemoveEmptyEntries)
            .Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
}
