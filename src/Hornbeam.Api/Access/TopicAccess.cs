namespace Hornbeam.Api.Access;

/// <summary>
/// What a token limits on the pub/sub routes: the topics it may publish or subscribe to (glob patterns, <c>*</c> for any
/// run of characters) and how long an open stream may outlive the request that opened it (until the token expires).
/// </summary>
internal static class TopicAccess
{
    /// <summary>Refuses (403) a topic none of the request's token patterns match; an API key may use every topic.</summary>
    public static void Demand(HttpContext context, string topic)
    {
        if (Allows(context, topic)) return;
        var patterns = ((AccessIdentity)context.User.Identity!).Topics!;
        throw new HornbeamException(HornbeamError.Forbidden,
            $"This token may not use the topic '{topic}'; it is limited to {string.Join(", ", patterns.Select(p => $"'{p}'"))}.");
    }

    /// <summary>Whether the request may see <paramref name="topic"/>: always with an API key, else if a token pattern matches it.</summary>
    public static bool Allows(HttpContext context, string topic)
    {
        if (context.User.Identity is not AccessIdentity { Topics: { } patterns }) return true;
        foreach (var pattern in patterns)
            if (Matches(pattern, topic)) return true;
        return !context.RequestServices.GetRequiredService<AccessState>().Enabled;
    }

    /// <summary>
    /// Cancelled when the request's token expires, so a stream it opened ends then; never for an API key. The timer is
    /// released with the response.
    /// </summary>
    public static CancellationToken Expiry(HttpContext context)
    {
        if (context.User.Identity is not AccessIdentity { Expires: { } expires }
            || !context.RequestServices.GetRequiredService<AccessState>().Enabled) return CancellationToken.None;
        var timer = new CancellationTokenSource(TimeSpan.FromTicks(Math.Max(0, (expires - DateTimeOffset.UtcNow).Ticks)));
        context.Response.RegisterForDispose(timer);
        return timer.Token;
    }

    /// <summary>Whether <paramref name="topic"/> matches <paramref name="pattern"/>, <c>*</c> standing for any run of characters.</summary>
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> topic)
    {
        // The classic greedy match with one backtrack point: linear for patterns with few stars, never exponential.
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < topic.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') (star, resume) = (p++, t);
            else if (p < pattern.Length && pattern[p] == topic[t]) (p, t) = (p + 1, t + 1);
            else if (star >= 0) (p, t) = (star + 1, ++resume);
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
