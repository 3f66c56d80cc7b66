using System.Text.Json;

namespace Hornbeam.Api.State;

/// <summary>
/// One operation: <c>set</c> (with <c>value</c>), <c>delete</c> or <c>incr</c> (with <c>delta</c>, default 1); <c>if_match</c>
/// applies the transaction only if the key's ETag is that one (or <c>*</c>: any stored value); <c>ttl_seconds</c> gives a set
/// key, or a counter the incr creates, a lifetime.
/// </summary>
public sealed record StateTransactionOperation(string Op, string Key, JsonElement? Value, long? Delta, string? IfMatch, int? TtlSeconds);
