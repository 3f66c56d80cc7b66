namespace Hornbeam.State;

/// <summary>A stored value with what conditional writes need.</summary>
/// <param name="Json">The value's JSON (UTF-8), as stored.</param>
/// <param name="ETag">
/// The value's entity tag, quoted (<c>"…"</c>): the SHA-1 of <paramref name="Json"/>, so every replica computes the same one
/// and every write that changes the value changes it. Pass it as <see cref="StateSetOptions.IfMatch"/>.
/// </param>
/// <param name="TimeToLive">How long the key lives on; null when it has no lifetime.</param>
public sealed record StateItem(byte[] Json, string ETag, TimeSpan? TimeToLive);
