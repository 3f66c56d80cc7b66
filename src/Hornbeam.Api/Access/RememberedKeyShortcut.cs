namespace Hornbeam.Api.Access;

/// <summary>
/// Lets a request through without running authentication and authorization again when nothing could change their answer:
/// it presents the API key its keep-alive connection already proved through the <see cref="ApiKeyAuthenticationHandler"/>,
/// and that key holds the scope the route's policy requires (a scope policy depends on nothing but the key's scopes, which
/// are fixed configuration). <c>HttpContext.User</c> is set to the key's identity, as authentication would set it. Every
/// other request (no key, another key, a token, a scope the key lacks) takes the framework's path, which answers it.
/// On INCR, the hottest route, the framework's authentication and authorization (a DI scope, a handler, the policy
/// evaluation) cost several times the Redis-bound work around them.
/// </summary>
internal static class RememberedKeyShortcut
{
    /// <summary>True when the request was let through here (its user set); false when the framework must judge it.</summary>
    public static bool Applies(HttpContext context, AccessState access)
    {
        if (AccessSchemes.PresentedKey(context.Request) is not { } presented) return false;
        var required = context.GetEndpoint()?.Metadata.GetMetadata<ScopeMetadata>();
        if (ConnectionKey.Remembered(context, presented) is not { } key) return false;
        if (access.Enabled && required is not null && !key.Holds(required.Scope)) return false;
        context.User = key.Principal;
        return true;
    }
}
