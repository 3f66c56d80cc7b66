using Microsoft.AspNetCore.Authorization;

namespace Hornbeam.Api.Access;

/// <summary>
/// The authorization requirement behind each scope's policy: the user holds <see cref="Scope"/> (or one of
/// <see cref="AlsoAccepted"/>). With access control off every request meets it.
/// </summary>
internal sealed class ScopeRequirement(string scope, bool enforced, params string[] alsoAccepted)
    : IAuthorizationRequirement, IAuthorizationHandler
{
    public string Scope => scope;

    public string[] AlsoAccepted => alsoAccepted;

    // The requirement is its own handler (the framework's pass-through handler calls it), so no handler is registered.
    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        if (!enforced || Holds(context.User)) context.Succeed(this);
        return Task.CompletedTask;
    }

    private bool Holds(System.Security.Claims.ClaimsPrincipal user)
    {
        if (user.Identity is AccessIdentity identity)
            return identity.Holds(scope) || Array.Exists(alsoAccepted, identity.Holds);
        return user.HasClaim(AccessClaims.Scope, scope) || Array.Exists(alsoAccepted, s => user.HasClaim(AccessClaims.Scope, s));
    }
}
