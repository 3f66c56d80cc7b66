using System.Buffers.Text;
using System.Runtime.CompilerServices;
using Hornbeam.Redis;
using StackExchange.Redis;

namespace Hornbeam.PubSub;

/// <summary>Catch-up from a topic's bounded history (a sorted set scored by id), for a subscriber that resumes or skipped ids.</summary>
internal sealed class PubSubHistory(IConnectionMultiplexer redis, RedisKeys keys, PubSubOptions options, PubSubNotices notices)
{
    private const int HistoryPage = 500;

    /// <summary>
    /// Messages (<paramref name="after"/>, <paramref name="upTo"/>] from history, with a gap notice for those it no longer holds.
    /// After 0 (a subscriber that has seen nothing) it is what history holds, with no gap before it: ids start from the time, so
    /// most ids below the first never existed.
    /// </summary>
    public async IAsyncEnumerable<PubSubMessage> CatchUpAsync(string topic, long after, long upTo,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var history = keys.PubSubTopic(topic).History;
        var cutoff = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - (long)options.HistoryAge.TotalMilliseconds;
        var fromStart = after == 0;
        var expected = after + 1;
        var db = redis.GetDatabase();
        while (expected <= upTo)
        {
            var page = await db.SortedSetRangeByScoreAsync(history, expected, upTo, take: HistoryPage).WaitAsync(cancellationToken);
            foreach (var entry in page)
            {
                if (!TryParseEntry((byte[])entry!, out var id, out var publishedAt, out var json) || publishedAt < cutoff
                    || id < expected) continue;
                if (id > expected && !fromStart) yield return notices.Gap(topic, expected - 1, id - 1,
                    "history no longer holds the messages after the last event id");
                yield return new PubSubMessage(topic, id, PubSubMessageKind.Message, json);
                expected = id + 1;
                fromStart = false;
            }
            if (page.Length < HistoryPage) break;
        }
        if (expected <= upTo && !fromStart) yield return notices.Gap(topic, expected - 1, upTo,
            "history no longer holds the messages after the last event id");
    }

    // History members are "id:publishedAtMs:json".
    private static bool TryParseEntry(byte[] entry, out long id, out long publishedAt, out byte[] json)
    {
        publishedAt = 0;
        json = [];
        if (!Utf8Parser.TryParse(entry, out id, out var used) || used >= entry.Length || entry[used] != ':') return false;
        var rest = entry.AsSpan(used + 1);
        if (!Utf8Parser.TryParse(rest, out publishedAt, out var used2) || used2 >= rest.Length || rest[used2] != ':') return false;
        json = rest[(used2 + 1)..].ToArray();
        return true;
    }
}
