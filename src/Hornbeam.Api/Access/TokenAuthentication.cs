using System.Security.Claims;
using Hornbeam.Access;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace Hornbeam.Api.Access;

/// <summary>
/// How the <see cref="AccessSchemes.Token"/> scheme (ASP.NET Core's JWT bearer handler) checks browser tokens: signed with
/// one of the configured keys (HMAC-SHA256), issued by Hornbeam for Hornbeam, not expired. A valid token becomes the same
/// kind of identity an API key does, with the scopes it names that its key still holds.
/// </summary>
internal static class TokenAuthentication
{
    public const string Issuer = "hornbeam";
    public const string Audience = "hornbeam";

    public static void Configure(JwtBearerOptions options, TokenOptions tokens)
    {
        options.MapInboundClaims = false;
        options.IncludeErrorDetails = true;
        options.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            IssuerSigningKeys = tokens.SigningKeys.Select(TokenIssuer.SecurityKey).ToArray(),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            // Tokens live minutes: an expiry is exact, so a stream ends when its token does, as documented.
            ClockSkew = TimeSpan.Zero,
            NameClaimType = AccessClaims.Subject,
        };
        options.Events = new JwtBearerEvents
        {
            OnMessageReceived = ReadQueryOnSubscribeRoutes,
            OnTokenValidated = ToIdentity,
            OnChallenge = ChallengeAsync,
        };
    }

    /// <summary>
    /// Browsers cannot set headers on EventSource or WebSocket, so the subscribe routes also read the token from
    /// <c>?access_token=</c>. No other route does: a query string is easier to leak than a header.
    /// </summary>
    private static Task ReadQueryOnSubscribeRoutes(MessageReceivedContext context)
    {
        var request = context.Request;
        if (request.Headers.Authorization.Count == 0
            && context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<AccessTokenQuery>() is not null
            && request.Query.TryGetValue(AccessSchemes.QueryParameter, out var token))
            context.Token = token.ToString();
        return Task.CompletedTask;
    }

    private static Task ToIdentity(TokenValidatedContext context)
    {
        var services = context.HttpContext.RequestServices;
        var access = services.GetRequiredService<AccessState>();
        var principal = context.Principal!;
        var name = principal.FindFirstValue(AccessClaims.Subject) ?? "";
        var key = services.GetRequiredService<ApiKeyStore>().Named(name);
        // Removing a key from the configuration ends the tokens it minted, and a scope taken from it is gone from them too.
        if (key is null && access.Enabled)
        {
            context.Fail(new TokenRejectedException($"The API key '{name}' that minted this token is no longer configured."));
            return Task.CompletedTask;
        }
        var scopes = (principal.FindFirstValue(AccessClaims.Scope) ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(s => key?.Holds(s) ?? true).ToArray();
        var topics = principal.FindAll(AccessClaims.Topics).Select(c => c.Value).ToArray();
        // A token spends a budget of its own at its key's rate: many browsers on one key do not starve each other.
        var permits = key?.Permits ?? access.DefaultPermits;
        var budget = permits > 0
            ? services.GetRequiredService<SharedRateLimiter>().Budget("token:" + principal.FindFirstValue(AccessClaims.TokenId), permits,
                access.Burst(permits))
            : null;
        context.Principal = new ClaimsPrincipal(new AccessIdentity(AccessSchemes.Token, name, scopes,
            topics.Length > 0 ? topics : null, budget, new DateTimeOffset(context.SecurityToken.ValidTo, TimeSpan.Zero)));
        return Task.CompletedTask;
    }

    private static Task ChallengeAsync(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        var failure = context.AuthenticateFailure;
        var detail = failure switch
        {
            null when context.Request.Query.ContainsKey(AccessSchemes.QueryParameter) =>
                "A token is read from ?access_token= only on the subscribe routes (GET /pubsub/{topic} and /ws/{path}); " +
                "send it as 'Authorization: Bearer <token>' here.",
            null => AccessProblems.NoCredential,
            SecurityTokenExpiredException expired =>
                $"The token expired at {expired.Expires:yyyy-MM-ddTHH:mm:ssZ}; get a new one from POST /auth/tokens.",
            TokenRejectedException rejected => rejected.Message,
            _ => "The token is not valid (its signature, issuer, audience or form); get a new one from POST /auth/tokens.",
        };
        return AccessProblems.UnauthorizedAsync(context.HttpContext, detail, failure is null ? null : "invalid_token");
    }

    private sealed class TokenRejectedException(string message) : Exception(message);
}

/// <summary>Marks the routes (the SSE and WebSocket subscriptions) that read a token from <c>?access_token=</c>.</summary>
internal sealed class AccessTokenQuery;
