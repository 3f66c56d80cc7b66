using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace Hornbeam.Api.Access;

/// <summary>
/// Answers a refused scope with a 403 that names it; everything else (the challenge, a success) goes the framework's way.
/// </summary>
internal sealed class AccessAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _framework = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy,
        PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded) return next(context);
        if (authorizeResult.Forbidden
            && authorizeResult.AuthorizationFailure?.FailedRequirements.OfType<ScopeRequirement>().FirstOrDefault() is { } missing)
        {
            var holder = context.User.Identity is AccessIdentity { IsToken: true } ? "token" : "API key";
            var also = missing.AlsoAccepted.Length > 0 ? $" (or '{string.Join("' or '", missing.AlsoAccepted)}')" : "";
            return AccessProblems.ForbiddenAsync(context, $"This {holder} lacks the '{missing.Scope}' scope{also} this route requires.");
        }
        return _framework.HandleAsync(next, context, policy, authorizeResult);
    }
}
