namespace Hornbeam.Redis;

/// <summary>
/// A Lua script that serves many calls at once: each call brings <see cref="KeysPerCall"/> keys and
/// <see cref="ValuesPerCall"/> values, the script walks KEYS and ARGV in those strides and answers an array with one
/// element per call, in order. An element that is an array of one string, the message of <c>redis.pcall</c>'s error,
/// fails that call alone with that message (StackExchange.Redis refuses error elements inside an array), so the script
/// must leave nothing half-written for it.
/// </summary>
/// <param name="Lua">The script text.</param>
/// <param name="KeysPerCall">Keys each call brings; all of one call's keys share a hash slot.</param>
/// <param name="ValuesPerCall">Values each call brings.</param>
internal sealed record CombinedScript(string Lua, int KeysPerCall, int ValuesPerCall)
{
    /// <summary>
    /// The script adds each call's first value, a 64-bit integer delta, to a counter named by the call's keys and
    /// answers the counter's new value (or refuses the call, e.g. on overflow). Calls of one counter queued together
    /// may then go as one call of their deltas' sum: each caller is answered the value it would have seen had the calls
    /// run one after another in queue order, and a refused sum falls back to one call per caller.
    /// </summary>
    public bool AddsDeltas { get; init; }

    /// <summary>The script changes data, so its calls wait for replicas when they must confirm writes.</summary>
    public bool Writes { get; init; } = true;
}
