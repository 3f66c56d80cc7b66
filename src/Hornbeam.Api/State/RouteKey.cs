namespace Hornbeam.Api.State;

/// <summary>Keys come from a catch-all route segment, so they may hold '/' and ':'.</summary>
internal static class RouteKey
{
    // The server decodes every escape in the path but %2F (it would change the path's segments); finish that one here.
    public static string Decode(string key) =>
        key.Contains('%') ? key.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : key;
}
