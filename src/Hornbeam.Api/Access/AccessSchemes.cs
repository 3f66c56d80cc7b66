namespace Hornbeam.Api.Access;

/// <summary>
/// The authentication schemes: <see cref="ApiKey"/>, the default, hands a request carrying a token to <see cref="Token"/>
/// (ASP.NET Core's JWT bearer handler), so one request runs one handler.
/// </summary>
internal static class AccessSchemes
{
    public const string ApiKey = "ApiKey";
    public const string Token = "Token";

    /// <summary>The query parameter a token may travel in on the subscribe routes, where browsers cannot set headers.</summary>
    public const string QueryParameter = "access_token";

    /// <summary>Token when the request carries one (a JWT-shaped bearer, or the query parameter without a header), else ApiKey.</summary>
    public static string Select(HttpContext context, bool tokens)
    {
        if (!tokens) return ApiKey;
        var headers = context.Request.Headers;
        var authorization = headers.Authorization;
        if (authorization.Count == 0)
            return context.Request.QueryString.HasValue && context.Request.Query.ContainsKey(QueryParameter)
                                                        && !headers.ContainsKey(ApiKeyHeader)
                ? Token
                : ApiKey;
        var value = authorization.ToString().AsSpan();
        return !headers.ContainsKey(ApiKeyHeader) && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && LooksLikeToken(value[7..].Trim()) ? Token : ApiKey;
    }

    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>The key a request presents: <c>X-Api-Key</c>, else <c>Authorization: Bearer</c>; null without one.</summary>
    public static string? PresentedKey(HttpRequest request)
    {
        var headers = request.Headers;
        if (headers.TryGetValue(ApiKeyHeader, out var header) && header.ToString() is { Length: > 0 } direct) return direct;
        var authorization = headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..].Trim() : null;
    }

    /// <summary>A compact JWT: three base64url parts separated by dots, the first a JSON object (so "eyJ").</summary>
    public static bool LooksLikeToken(ReadOnlySpan<char> value) =>
        value.StartsWith("eyJ", StringComparison.Ordinal) && value.Count('.') == 2;
}
