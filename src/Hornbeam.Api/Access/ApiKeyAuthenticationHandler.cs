using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c> against the configured keys. Its
/// challenge is the 401 (or, for an address past its failed attempts, the 429) that a route needing a scope answers.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger,
    UrlEncoder encoder, ApiKeyStore keys, AccessState access, FailedAttempts failures)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private static readonly Task<AuthenticateResult> NoKey = Task.FromResult(AuthenticateResult.NoResult());
    private static readonly Task<AuthenticateResult> Invalid = Task.FromResult(AuthenticateResult.Fail(new InvalidKeyException()));

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (AccessSchemes.PresentedKey(Request) is not { } presented) return NoKey;
        var key = Resolve(presented, out var remembered);
        // An address past its failed attempts is refused before its key is judged, so a 429 says nothing about whether a
        // guess was right. Only a connection that proved its key earlier goes on.
        if (!remembered && access.FailedAttemptsPerMinute > 0 && failures.BlockedFor(Context) is { } left)
            return Task.FromResult(AuthenticateResult.Fail(new AddressBlockedException(left)));
        return key?.Authenticated ?? Invalid;
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        switch ((await HandleAuthenticateOnceSafeAsync()).Failure)
        {
            case AddressBlockedException blocked:
                await AccessProblems.TooManyFailuresAsync(Context, blocked.Left);
                break;
            // Counted in Redis across replicas; past the limit this attempt is already refused with 429.
            case InvalidKeyException when access.FailedAttemptsPerMinute > 0
                                          && await failures.CountAsync(Context, access.LimiterWait) is { } left:
                await AccessProblems.TooManyFailuresAsync(Context, left);
                break;
            case InvalidKeyException:
                await AccessProblems.UnauthorizedAsync(Context, "The API key is not valid.");
                break;
            default:
                await AccessProblems.UnauthorizedAsync(Context, AccessProblems.NoCredential);
                break;
        }
    }

    /// <summary>
    /// A client sends the same key on every request of a keep-alive connection. After one full check the connection
    /// remembers that key's bytes, and its later requests are compared with them in constant time instead of being
    /// hashed again: a SHA-256 per request was a visible share of a whole state call's CPU. Any other key
    /// gets the full check. A connection only ever remembers a key its own client sent.
    /// </summary>
    private ResolvedKey? Resolve(string presented, out bool remembered)
    {
        remembered = false;
        var most = Encoding.UTF8.GetMaxByteCount(presented.Length);
        var buffer = most <= 512 ? stackalloc byte[512] : new byte[most];
        var utf8 = buffer[..Encoding.UTF8.GetBytes(presented, buffer)];

        var items = Context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(typeof(VerifiedKey), out var memo) && memo is VerifiedKey verified
            && CryptographicOperations.FixedTimeEquals(utf8, verified.Utf8))
        {
            remembered = true;
            return verified.Key;
        }
        var key = keys.Find(utf8);
        if (key is not null && items is not null) items[typeof(VerifiedKey)] = new VerifiedKey(utf8.ToArray(), key);
        return key;
    }

    /// <summary>A key (its UTF-8 bytes) one connection presented and that passed the full check.</summary>
    private sealed record VerifiedKey(byte[] Utf8, ResolvedKey Key);

    private sealed class InvalidKeyException() : Exception("The API key is not valid.");

    private sealed class AddressBlockedException(TimeSpan left) : Exception("Too many invalid API keys from this address.")
    {
        public TimeSpan Left => left;
    }
}
