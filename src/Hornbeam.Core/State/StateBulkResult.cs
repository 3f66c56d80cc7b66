namespace Hornbeam.State;

/// <summary>The answer for one key of <see cref="IStateStore.SetManyJsonAsync"/>: its new ETag, or why it was not set.</summary>
/// <param name="ETag">The key's new ETag when it was set.</param>
/// <param name="Error">Why the key was not set (an invalid key or value, a value too large); the other keys are set regardless.</param>
public sealed record StateBulkResult(string? ETag, HornbeamException? Error);
