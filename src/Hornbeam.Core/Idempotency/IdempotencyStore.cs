using Hornbeam.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Idempotency;

/// <summary>The Redis implementation of <see cref="IIdempotencyStore"/>: one hash per request, expiring after the window.</summary>
internal sealed class IdempotencyStore(RedisBatcher batcher, RedisKeys keys, IOptions<IdempotencyOptions> options) : IIdempotencyStore
{
    private long WindowMs => options.Value.WindowSeconds * 1000L;

    public async Task<IdempotencyClaim> ClaimAsync(IdempotentRequest request)
    {
        // Through the batcher, so a claim is confirmed by replicas like any other write when they must confirm.
        var found = (RedisResult[])(await batcher.ScriptEvaluateAsync(RedisScripts.IdempotencyClaim,
            [keys.IdempotencyRecord(request)], [request.Fingerprint, WindowMs]))!;
        if (found.Length == 1) return new IdempotencyClaim.Claimed();
        var fields = new Dictionary<string, RedisValue>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < found.Length; i += 2) fields[(string)found[i]!] = (RedisValue)found[i + 1];
        if (fields.GetValueOrDefault("fp") != request.Fingerprint) throw Reused();
        if (fields.GetValueOrDefault("state") != "done") throw InUse();
        return new IdempotencyClaim.Answered(new StoredAnswer((int)fields["status"], Text(fields.GetValueOrDefault("ctype")),
            Text(fields.GetValueOrDefault("location")), (byte[]?)fields.GetValueOrDefault("body") ?? []));
    }

    public Task RecordAsync(IdempotentRequest request, StoredAnswer answer) =>
        batcher.ScriptEvaluateAsync(RedisScripts.IdempotencyRecord, [keys.IdempotencyRecord(request)],
            [request.Fingerprint, answer.Status, answer.ContentType ?? "", answer.Location ?? "", answer.Body]);

    public Task ReleaseAsync(IdempotentRequest request) =>
        batcher.ScriptEvaluateAsync(RedisScripts.IdempotencyRelease, [keys.IdempotencyRecord(request)], [request.Fingerprint]);

    private static string? Text(RedisValue value) => value.IsNullOrEmpty ? null : (string?)value;

    internal static HornbeamException Reused() => new(HornbeamError.IdempotencyKeyReused,
        "This Idempotency-Key was already used for a different request; use a new key for each distinct request.");

    private static HornbeamException InUse() => new(HornbeamError.IdempotencyKeyInUse,
        "A request with this Idempotency-Key has not answered yet, or the node running it stopped before it answered. " +
        "It is never run twice under one key: retry later to get its answer; if none comes within the window, its outcome is unknown.");
}
