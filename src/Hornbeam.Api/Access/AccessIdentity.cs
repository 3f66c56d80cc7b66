using System.Security.Claims;
using Hornbeam.Access;

namespace Hornbeam.Api.Access;

/// <summary>
/// Who a request acts for: an API key, or a token minted with one. Its claims are <c>sub</c> (the key's name), one
/// <c>scope</c> per scope and, for a token limited to topics, one <c>topics</c> per pattern. The same facts are kept typed,
/// so the scope check and the rate limit of every request read no claim list.
/// </summary>
internal sealed class AccessIdentity(string authenticationType, string name, string[] scopes, string[]? topics, RateBudget? budget,
    DateTimeOffset? expires)
    : ClaimsIdentity(ClaimsOf(name, scopes, topics), authenticationType, AccessClaims.Subject, AccessClaims.Scope)
{
    public string[] Scopes => scopes;

    /// <summary>The topic patterns a token is limited to; null: every topic.</summary>
    public string[]? Topics => topics;

    /// <summary>The request budget this identity spends (null: no limit).</summary>
    public RateBudget? Budget => budget;

    /// <summary>When a token stops being accepted; null for an API key.</summary>
    public DateTimeOffset? Expires => expires;

    public bool IsToken => AuthenticationType == AccessSchemes.Token;

    public bool Holds(string scope) => Array.IndexOf(scopes, scope) >= 0;

    private static IEnumerable<Claim> ClaimsOf(string name, string[] scopes, string[]? topics) =>
        [new(AccessClaims.Subject, name), .. scopes.Select(s => new Claim(AccessClaims.Scope, s)),
            .. (topics ?? []).Select(t => new Claim(AccessClaims.Topics, t))];
}

/// <summary>The claim types Hornbeam sets on <c>HttpContext.User</c> and writes into tokens.</summary>
internal static class AccessClaims
{
    public const string Subject = "sub";
    public const string Scope = "scope";
    public const string Topics = "topics";
    public const string TokenId = "jti";
}
