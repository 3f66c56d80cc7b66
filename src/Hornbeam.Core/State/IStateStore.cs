using System.Text.Json;

namespace Hornbeam.State;

/// <summary>
/// Shared state, the seed's <c>state_*</c> functions: JSON values and atomic 64-bit counters under string keys, in Redis.
/// A counter is an ordinary value: <see cref="IncrementAsync(string, long)"/> on a key set to <c>41</c> answers 42.
/// Calls in flight at the same moment go to Redis together; calls not awaited one after another may run in either order.
/// </summary>
public interface IStateStore
{
    /// <summary>state_get: the value's JSON (UTF-8), or null when the key is absent.</summary>
    Task<byte[]?> GetJsonAsync(string key);

    /// <summary>state_get, deserialized to <typeparamref name="T"/>; default when the key is absent.</summary>
    Task<T?> GetAsync<T>(string key, JsonSerializerOptions? json = null);

    /// <summary>state_set from JSON text (UTF-8); throws <see cref="HornbeamException"/> for invalid or oversized JSON.</summary>
    Task SetJsonAsync(string key, ReadOnlyMemory<byte> json);

    /// <summary>state_set of any value that serializes to JSON.</summary>
    Task SetAsync<T>(string key, T value, JsonSerializerOptions? json = null);

    /// <summary>state_delete; deleting an absent key is not an error.</summary>
    Task DeleteAsync(string key);

    /// <summary>
    /// state_incr: adds <paramref name="delta"/> atomically, starting from 0, and answers the new value. Concurrent
    /// increments of one key may reach Redis as one increment of their sum; each still answers its own value of one
    /// serial history.
    /// </summary>
    Task<long> IncrementAsync(string key, long delta = 1);

    /// <summary>state_decr: subtracts <paramref name="delta"/> atomically (no floor) and answers the new value.</summary>
    Task<long> DecrementAsync(string key, long delta = 1);

    /// <summary>
    /// state_incr at most once per <paramref name="once"/>: the increment and the record of its answer are written in
    /// one step, so a retry of a request whose outcome was unknown answers the first value if it was applied and applies
    /// it now if it was not. A key reused for another request throws <see cref="HornbeamError.IdempotencyKeyReused"/>.
    /// </summary>
    Task<long> IncrementAsync(string key, long delta, Idempotency.IdempotentRequest once);

    /// <summary>state_get_multi: every requested key, mapped to its JSON or null when absent.</summary>
    Task<IReadOnlyDictionary<string, byte[]?>> GetManyJsonAsync(IReadOnlyCollection<string> keys);

    /// <summary>state_keys: keys starting with <paramref name="prefix"/> in byte order, one page at a time; never an expired key.</summary>
    Task<StateKeysPage> KeysAsync(string? prefix = null, int? limit = null, string? cursor = null);

    /// <summary>state_get with the value's ETag and remaining lifetime; null when the key is absent.</summary>
    Task<StateItem?> GetItemAsync(string key);

    /// <summary>
    /// state_set with a lifetime and/or a condition on the stored value's ETag, checked and written in one step; answers the
    /// new ETag. A condition that does not hold throws <see cref="HornbeamError.PreconditionFailed"/> and changes nothing.
    /// </summary>
    Task<string> SetJsonAsync(string key, ReadOnlyMemory<byte> json, StateSetOptions options);

    /// <summary>
    /// state_delete only if the stored value's ETag is one of <paramref name="ifMatch"/> (quoted ETags, or <c>*</c> for any
    /// stored value); otherwise, or when the key is absent, throws <see cref="HornbeamError.PreconditionFailed"/>.
    /// </summary>
    Task DeleteAsync(string key, string ifMatch);

    /// <summary>
    /// state_incr that gives the counter <paramref name="timeToLive"/> when this increment creates it and leaves the
    /// lifetime as it is otherwise: a fixed-window rate-limit counter in one call.
    /// </summary>
    Task<long> IncrementAsync(string key, long delta, TimeSpan timeToLive);

    /// <summary>
    /// The same, at most once per <paramref name="once"/> (see <see cref="IncrementAsync(string, long, Idempotency.IdempotentRequest)"/>).
    /// </summary>
    Task<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, Idempotency.IdempotentRequest once);

    /// <summary>
    /// Applies every operation, in order, or none: a failed <see cref="StateOperation.IfMatch"/> throws
    /// <see cref="HornbeamError.PreconditionFailed"/> and an increment of a non-integer (or an overflow)
    /// <see cref="HornbeamError.Conflict"/>, both naming the operation, with nothing changed. All keys must share one
    /// hash slot (give them one hash tag, e.g. <c>{cart:42}:items</c> and <c>{cart:42}:total</c>), else
    /// <see cref="HornbeamError.InvalidInput"/>. Answers one result per operation, in order.
    /// </summary>
    Task<IReadOnlyList<StateOperationResult>> TransactAsync(IReadOnlyList<StateOperation> operations);

    /// <summary>
    /// state_set of many keys at once, each with <paramref name="timeToLive"/> if given. Not atomic: each key is set on
    /// its own, and an invalid key or value fails that key alone (see its <see cref="StateBulkResult.Error"/>).
    /// </summary>
    Task<IReadOnlyDictionary<string, StateBulkResult>> SetManyJsonAsync(IReadOnlyDictionary<string, ReadOnlyMemory<byte>> values,
        TimeSpan? timeToLive = null);
}

/// <summary>One page of keys; <see cref="Cursor"/> is set when more remain and goes back in the next call.</summary>
public sealed record StateKeysPage(IReadOnlyList<string> Keys, string? Cursor);
