namespace Hornbeam;

/// <summary>Settings bound from the <c>Hornbeam</c> configuration section; defaults live here.</summary>
public sealed class HornbeamOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam";

    /// <summary>Namespace that every Redis key Hornbeam writes starts with.</summary>
    public string Prefix { get; set; } = "hornbeam:";

    /// <summary>This process's node name; generated (<c>hornbeam-xxxxxx@host</c>) when empty.</summary>
    public string? NodeName { get; set; }

    /// <summary>Longest state key accepted, in UTF-8 bytes.</summary>
    public int MaxKeyBytes { get; set; } = 1024;

    /// <summary>Largest state value accepted, in UTF-8 bytes of JSON.</summary>
    public int MaxValueBytes { get; set; } = 1024 * 1024;

    /// <summary>Most keys one <c>get-many</c> request may name.</summary>
    public int MaxMultiKeys { get; set; } = 1000;

    /// <summary>Most keys one page of <c>keys</c> returns.</summary>
    public int MaxKeysPage { get; set; } = 10_000;

    /// <summary>Page size of <c>keys</c> when the caller gives none.</summary>
    public int DefaultKeysPage { get; set; } = 1000;

    internal string? Validate()
    {
        if (string.IsNullOrEmpty(Prefix)) return "Hornbeam:Prefix must not be empty.";
        if (Prefix.AsSpan().IndexOfAny('{', '}') >= 0) return "Hornbeam:Prefix must not contain '{' or '}' (they would change Redis Cluster hash slots).";
        if (NodeName is { } n && n.Trim().Any(c => char.IsWhiteSpace(c) || c is '{' or '}' or '/'))
            return "Hornbeam:NodeName must not contain white space, '/', '{' or '}' (it is part of URLs and Redis keys).";
        if (MaxKeyBytes < 1) return "Hornbeam:MaxKeyBytes must be at least 1.";
        if (MaxValueBytes < 1) return "Hornbeam:MaxValueBytes must be at least 1.";
        if (MaxMultiKeys < 1) return "Hornbeam:MaxMultiKeys must be at least 1.";
        if (DefaultKeysPage < 1 || DefaultKeysPage > MaxKeysPage) return "Hornbeam:DefaultKeysPage must be between 1 and Hornbeam:MaxKeysPage.";
        return null;
    }
}
