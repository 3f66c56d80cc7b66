namespace Hornbeam.Idempotency;

/// <summary>
/// Remembers the first answer to each <see cref="IdempotentRequest"/>, in Redis, so a retry on any replica gets it
/// back instead of running the request again. For requests whose effect lies outside Redis (hooks, functions, casts):
/// claim, run, then record the answer, or release the claim when nothing was done. State increments need no claim:
/// <see cref="State.IStateStore"/> records their answer in the same Lua script as the change.
/// </summary>
public interface IIdempotencyStore
{
    /// <summary>
    /// Claims <paramref name="request"/>, or answers the earlier request's answer. Throws <see cref="HornbeamException"/>
    /// with <see cref="HornbeamError.IdempotencyKeyReused"/> for a key used with a different request and
    /// <see cref="HornbeamError.IdempotencyKeyInUse"/> while the first has not answered.
    /// </summary>
    Task<IdempotencyClaim> ClaimAsync(IdempotentRequest request);

    /// <summary>Records the claimed request's answer for every retry within the window.</summary>
    Task RecordAsync(IdempotentRequest request, StoredAnswer answer);

    /// <summary>Gives the claim up: the request changed nothing, so a retry runs it as new.</summary>
    Task ReleaseAsync(IdempotentRequest request);
}
