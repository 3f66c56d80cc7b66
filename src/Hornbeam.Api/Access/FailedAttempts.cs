using System.Collections.Concurrent;
using Hornbeam.Access;
using StackExchange.Redis;

namespace Hornbeam.Api.Access;

/// <summary>
/// Invalid keys per client address, counted in Redis so attempts spread over replicas add up. A replica that learns an
/// address is past the limit remembers it until the window ends and refuses it without asking Redis, so an address
/// that is blocked costs no Redis call and valid requests never make one here.
/// </summary>
internal sealed class FailedAttempts(SharedRateLimiter limiter, AccessState access, ILogger<FailedAttempts> logger)
{
    // Bounds the memory an attacker with many addresses can take: expired entries are swept once it is reached.
    private const int SweepAt = 10_000;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, long> _blockedUntil = new(StringComparer.Ordinal);

    /// <summary>The client's address as the limits know it: IPv4 without its IPv6 mapping, "unknown" when there is none.</summary>
    public static string Address(HttpContext context) => context.Connection.RemoteIpAddress switch
    {
        null => "unknown",
        { IsIPv4MappedToIPv6: true } mapped => mapped.MapToIPv4().ToString(),
        var address => address.ToString(),
    };

    /// <summary>How long the client's address stays refused, or null when it is not (as far as this replica knows).</summary>
    public TimeSpan? BlockedFor(HttpContext context)
    {
        if (_blockedUntil.IsEmpty || !_blockedUntil.TryGetValue(Address(context), out var until)) return null;
        var left = until - Environment.TickCount64;
        return left > 0 ? TimeSpan.FromMilliseconds(left) : null;
    }

    /// <summary>
    /// Counts one invalid key from the client's address. Answers how long the address is refused when this attempt is
    /// past the limit, else null. Without Redis (within <paramref name="wait"/>) nothing is counted and the answer is null.
    /// </summary>
    public async Task<TimeSpan?> CountAsync(HttpContext context, TimeSpan wait)
    {
        var address = Address(context);
        long count;
        TimeSpan left;
        try
        {
            (count, left) = await limiter.CountFailureAsync(address, Window).WaitAsync(wait);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogDebug("A failed key attempt from {Address} was not counted: {Message}", address, e.Message);
            return null;
        }
        var limit = access.FailedAttemptsPerMinute;
        // At the limit the next attempt is refused anyway; remembering it now spares that attempt's Redis call.
        if (count >= limit) Block(address, left);
        return count > limit ? left : null;
    }

    private void Block(string address, TimeSpan left)
    {
        var now = Environment.TickCount64;
        if (_blockedUntil.Count >= SweepAt)
            foreach (var (other, until) in _blockedUntil)
                if (until <= now) _blockedUntil.TryRemove(other, out _);
        _blockedUntil[address] = now + (long)left.TotalMilliseconds;
    }
}
