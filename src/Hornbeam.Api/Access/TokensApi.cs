using Hornbeam.Api.Problems;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>Browser tokens: <c>POST /auth/tokens</c> mints a short-lived signed token for an EventSource or WebSocket.</summary>
public static class TokensApi
{
    /// <summary>At most this many topic patterns in one token.</summary>
    public const int MaxTopics = 32;

    /// <summary>At most this many characters in one topic pattern.</summary>
    public const int MaxTopicPatternLength = 256;

    /// <summary>The lifetime of a token whose request names none, unless Hornbeam:Auth:Tokens:MaxTtlSeconds is shorter.</summary>
    public const int DefaultTtlSeconds = 300;

    public static RouteGroupBuilder MapTokens(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/auth").WithTags("Auth");
        group.MapPost("/tokens", Create).WithName("TokensCreate").RequireScope(Access.Scopes.Tokens)
            .WithSummary("Mint a short-lived token for a browser: the scopes and topics it may use, signed; accepted as a bearer " +
                         "token on any route and as ?access_token= on the subscribe routes")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status501NotImplemented);
        return group;
    }

    internal static Results<Ok<TokenResponse>, ProblemHttpResult> Create(TokenRequest request, HttpContext context, TokenIssuer issuer,
        IOptions<AccessOptions> options)
    {
        if (!issuer.Enabled)
            return TypedResults.Problem(statusCode: StatusCodes.Status501NotImplemented, type: ProblemTypes.TokensNotConfigured,
                title: "Tokens are not configured",
                detail: "This service mints no tokens: no Hornbeam:Auth:Tokens:SigningKeys are configured.");
        var identity = context.User.Identity as AccessIdentity;
        if (identity is { IsToken: true })
            throw new HornbeamException(HornbeamError.Forbidden, "Tokens are minted with an API key, not with another token.");
        var scopes = GrantedScopes(request, identity);
        var topics = TopicPatterns(request);
        var max = options.Value.Tokens.MaxTtlSeconds;
        var ttl = request.TtlSeconds ?? Math.Min(DefaultTtlSeconds, max);
        if (ttl < 1 || ttl > max)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"ttl_seconds must be between 1 and {max} (Hornbeam:Auth:Tokens:MaxTtlSeconds); it was {ttl}.");
        var (token, expiresAt) = issuer.Issue(identity?.Name ?? "anonymous", scopes, topics, TimeSpan.FromSeconds(ttl));
        return TypedResults.Ok(new TokenResponse(token, expiresAt));
    }

    private static string[] GrantedScopes(TokenRequest request, AccessIdentity? identity)
    {
        if (request.Scopes is not { Length: > 0 } scopes)
            throw new HornbeamException(HornbeamError.InvalidInput, "scopes must list at least one scope, such as [\"pubsub\"].");
        if (scopes.FirstOrDefault(s => !Access.Scopes.All.Contains(s)) is { } unknown)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"Unknown scope '{unknown}' in scopes; known scopes: {string.Join(", ", Access.Scopes.All)}.");
        if (scopes.Contains(Access.Scopes.Tokens))
            throw new HornbeamException(HornbeamError.InvalidInput, "A token cannot carry the 'tokens' scope: only API keys mint tokens.");
        // With access control off there is no key to hold scopes (identity is null): every scope may be named.
        if (identity is not null && scopes.FirstOrDefault(s => !identity.Holds(s)) is { } lacking)
            throw new HornbeamException(HornbeamError.Forbidden,
                $"This API key lacks the '{lacking}' scope, so it cannot grant it to a token.");
        return [.. scopes.Distinct(StringComparer.Ordinal)];
    }

    private static string[]? TopicPatterns(TokenRequest request)
    {
        if (request.Topics is not { } topics) return null;
        if (topics.Length is 0 or > MaxTopics)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"topics must list 1 to {MaxTopics} patterns (leave it out for a token that may use every topic).");
        if (topics.FirstOrDefault(t => string.IsNullOrEmpty(t) || t.Length > MaxTopicPatternLength) is { } bad)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"Each topic pattern must be 1 to {MaxTopicPatternLength} characters ('{bad}' is not).");
        return [.. topics.Distinct(StringComparer.Ordinal)];
    }
}

/// <summary>
/// A token request: the scopes the token may use (each held by the minting key), the topic patterns it may publish and
/// subscribe to (<c>*</c> matches any characters; left out: every topic) and its lifetime in seconds.
/// </summary>
public sealed record TokenRequest(string[]? Scopes, string[]? Topics = null, int? TtlSeconds = null);

/// <summary>A minted token and the instant it stops being accepted.</summary>
public sealed record TokenResponse(string Token, DateTimeOffset ExpiresAt);
