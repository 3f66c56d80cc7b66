using System.Text;
using Microsoft.AspNetCore.Authentication;

namespace Hornbeam.Api.Access;

/// <summary>
/// The default authentication scheme. A request carrying a token (a JWT-shaped bearer, or <c>?access_token=</c> on a
/// subscribe route) is handed to the <see cref="AccessSchemes.Token"/> scheme, as a policy scheme's selector would; any
/// other is checked against the API keys (<c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c>). Its
/// challenge is the 401 (or, for an address past its failed attempts, the 429) that a route needing a scope answers.
/// A plain <see cref="IAuthenticationHandler"/>, not an <c>AuthenticationHandler&lt;TOptions&gt;</c>, and the selector
/// lives here rather than in a policy scheme of its own: on INCR, the hottest route, the framework's base handler (options
/// and logger looked up per request) and a second handler per request cost more than the rest of the key check.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(ApiKeyStore keys, AccessState access, FailedAttempts failures) : IAuthenticationHandler
{
    private static readonly AuthenticateResult InvalidKey = AuthenticateResult.Fail(new InvalidKeyException());

    private HttpContext _context = null!;
    private AuthenticateResult? _result;
    private bool _forwarded;

    public Task InitializeAsync(AuthenticationScheme scheme, HttpContext context)
    {
        _context = context;
        return Task.CompletedTask;
    }

    public Task<AuthenticateResult> AuthenticateAsync()
    {
        if (_result is not null) return Task.FromResult(_result);
        if (AccessSchemes.Select(_context, access.Tokens) == AccessSchemes.Token)
        {
            _forwarded = true;
            return _context.AuthenticateAsync(AccessSchemes.Token);
        }
        if (AccessSchemes.PresentedKey(_context.Request) is not { } presented) return Remember(AuthenticateResult.NoResult());
        var key = Resolve(presented, out var remembered);
        // An address past its failed attempts is refused before its key is judged, so a 429 says nothing about whether a
        // guess was right. Only a connection that proved its key earlier goes on.
        if (!remembered && access.FailedAttemptsPerMinute > 0 && failures.BlockedFor(_context) is { } left)
            return Remember(AuthenticateResult.Fail(new AddressBlockedException(left)));
        return key?.Authenticated ?? Remember(InvalidKey);
    }

    private Task<AuthenticateResult> Remember(AuthenticateResult result)
    {
        _result = result;
        return Task.FromResult(result);
    }

    public async Task ChallengeAsync(AuthenticationProperties? properties)
    {
        if (_forwarded || AccessSchemes.Select(_context, access.Tokens) == AccessSchemes.Token)
        {
            await _context.ChallengeAsync(AccessSchemes.Token, properties);
            return;
        }
        switch ((await AuthenticateAsync()).Failure)
        {
            case AddressBlockedException blocked:
                await AccessProblems.TooManyFailuresAsync(_context, blocked.Left);
                break;
            // Counted in Redis across replicas; past the limit this attempt is already refused with 429.
            case InvalidKeyException when access.FailedAttemptsPerMinute > 0
                                          && await failures.CountAsync(_context, access.LimiterWait) is { } left:
                await AccessProblems.TooManyFailuresAsync(_context, left);
                break;
            case InvalidKeyException:
                await AccessProblems.UnauthorizedAsync(_context, "The API key is not valid.");
                break;
            default:
                await AccessProblems.UnauthorizedAsync(_context, AccessProblems.NoCredential);
                break;
        }
    }

    // A refused scope is answered by AccessAuthorizationResultHandler, which knows which scope it was.
    public Task ForbidAsync(AuthenticationProperties? properties)
    {
        _context.Response.StatusCode = StatusCodes.Status403Forbidden;
        return Task.CompletedTask;
    }

    /// <summary>The key the request presents, from the connection's memory or by the full check (which it then remembers).</summary>
    private ResolvedKey? Resolve(string presented, out bool remembered)
    {
        if (ConnectionKey.Remembered(_context, presented) is { } known)
        {
            remembered = true;
            return known;
        }
        remembered = false;
        var most = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var buffer = most <= 512 ? stackalloc byte[512] : new byte[most];
        var utf8 = buffer[..Encoding.UTF8.GetBytes(presented, buffer)];
        var key = keys.Find(utf8);
        if (key is not null) ConnectionKey.Remember(_context, utf8, key);
        return key;
    }

    private sealed class InvalidKeyException() : Exception("The API key is not valid.");

    private sealed class AddressBlockedException(TimeSpan left) : Exception("Too many invalid API keys from this address.")
    {
        public TimeSpan Left => left;
    }
}
