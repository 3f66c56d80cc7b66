using System.Buffers.Text;
using Hornbeam.Redis;

namespace Hornbeam.State;

/// <summary>
/// Where a change feed stands: for each of the 16 state buckets, the id of the last stream entry read there. As an SSE id it
/// is one base64url token: varint of the largest millisecond part, then per bucket varint(largest − ms) and varint(seq).
/// Buckets' ids lie close in time, so an id is about 50 characters. Stream ids only grow, so a position compares per bucket.
/// </summary>
internal readonly struct StateChangePosition
{
    private readonly (ulong Ms, ulong Seq)[] _ids;

    private StateChangePosition((ulong Ms, ulong Seq)[] ids) => _ids = ids;

    public static StateChangePosition Start() => new(new (ulong, ulong)[RedisKeys.StateBuckets]);

    public (ulong Ms, ulong Seq) this[int bucket] => _ids[bucket];

    public StateChangePosition With(int bucket, (ulong Ms, ulong Seq) id)
    {
        var ids = ((ulong, ulong)[])_ids.Clone();
        ids[bucket] = id;
        return new(ids);
    }

    /// <summary>Sets one bucket's id in place, for a position not handed out yet.</summary>
    public void Set(int bucket, (ulong Ms, ulong Seq) id) => _ids[bucket] = id;

    public override string ToString()
    {
        ulong max = 0;
        foreach (var (ms, _) in _ids) max = Math.Max(max, ms);
        Span<byte> bytes = stackalloc byte[10 * (1 + 2 * RedisKeys.StateBuckets)];
        var n = PutVarint(bytes, max);
        foreach (var (ms, seq) in _ids)
        {
            n += PutVarint(bytes[n..], max - ms);
            n += PutVarint(bytes[n..], seq);
        }
        return Base64Url.EncodeToString(bytes[..n]);
    }

    /// <summary>A position this service wrote as an event id; null for anything else.</summary>
    public static StateChangePosition? TryParse(string text)
    {
        if (text.Length is 0 or > 1024) return null;
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }
        var at = 0;
        if (!TryVarint(bytes, ref at, out var max)) return null;
        var ids = new (ulong, ulong)[RedisKeys.StateBuckets];
        for (var b = 0; b < ids.Length; b++)
        {
            if (!TryVarint(bytes, ref at, out var back) || back > max || !TryVarint(bytes, ref at, out var seq)) return null;
            ids[b] = (max - back, seq);
        }
        return at == bytes.Length ? new StateChangePosition(ids) : null;
    }

    /// <summary>A stream id as Redis writes it, <c>ms-seq</c>.</summary>
    public static (ulong Ms, ulong Seq) ParseId(string id)
    {
        var dash = id.IndexOf('-');
        return (ulong.Parse(id.AsSpan(0, dash)), ulong.Parse(id.AsSpan(dash + 1)));
    }

    public static string FormatId((ulong Ms, ulong Seq) id) => $"{id.Ms}-{id.Seq}";

    private static int PutVarint(Span<byte> span, ulong value)
    {
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[n++] = (byte)value;
        return n;
    }

    private static bool TryVarint(byte[] bytes, ref int at, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && at < bytes.Length; shift += 7)
        {
            var b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }
}
