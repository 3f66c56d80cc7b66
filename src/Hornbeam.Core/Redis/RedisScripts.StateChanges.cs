namespace Hornbeam.Redis;

/// <summary>
/// The state change feed (docs/state.md, "Change feed"). Per bucket, in the bucket's hash slot: <c>…:watch</c> (hash,
/// watched prefix → most entries its stream keeps), <c>…:watchers</c> (sorted set, prefix → lease end ms) and
/// <c>…:changes</c> (the stream of changes).
/// </summary>
internal static partial class RedisScripts
{
    // The one step every state write script runs after its write: appended in the same script, a change can neither be
    // lost nor reordered against another replica's write of the key. The watch hash and the stream are named from the
    // index key (…:index → …:watch, …:changes, one hash slot), so callers pass no extra keys; a bucket's watch hash is
    // read once per script run, so an unwatched write costs one HGETALL of a missing key. One PUBLISH per bucket and run
    // wakes readers. Call hb_change(index key, state key, op, value or nil, delta or nil); a value may be a Lua number.
    // A value's ETag (SHA-1 of the stored bytes, as GET answers it) is hashed only here, when the key is watched.
    public const string StateChange = """
        local hb_watched, hb_woken = {}, {}
        local function hb_change(index, key, op, value, delta)
          local base = string.sub(index, 1, -6)
          local w = hb_watched[base]
          if not w then w = redis.call('HGETALL', base .. 'watch') hb_watched[base] = w end
          local keep = 0
          for i = 1, #w, 2 do
            if string.sub(key, 1, #w[i]) == w[i] then keep = math.max(keep, tonumber(w[i + 1])) end
          end
          if keep == 0 then return end
          local fields = {'k', key, 'o', op}
          if value then
            local text = type(value) == 'number' and string.format('%d', value) or value
            fields[5] = 'v' fields[6] = text fields[7] = 'e' fields[8] = redis.sha1hex(text)
          end
          if delta then fields[#fields + 1] = 'd' fields[#fields + 1] = delta end
          redis.call('XADD', base .. 'changes', 'MAXLEN', '~', keep, '*', unpack(fields))
          if not hb_woken[base] then
            hb_woken[base] = true
            local prefix, bucket = string.match(base, '^(.*){state:(%x+)}:$')
            redis.call('PUBLISH', prefix .. 'state:changes', bucket)
          end
        end

        """;

    // A watcher's lease on its prefix in one bucket, renewed while it reads: expired leases go, and a prefix that was not
    // registered gets a 'watch' entry, so a reader resuming across a time nothing was recorded finds it and answers a gap.
    // Time-trims the stream, never its newest entry (a reader's position must stay in the stream unless changes after it
    // were trimmed), and answers that entry's id: where a new reader starts.
    // KEYS: watch, watchers, changes. ARGV: prefix, most entries kept, lease ms, retention ms.
    public const string StateChangesWatch = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        for _, p in ipairs(redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE')) do
          redis.call('HDEL', KEYS[1], p)
          redis.call('ZREM', KEYS[2], p)
        end
        redis.call('ZADD', KEYS[2], 'GT', now + tonumber(ARGV[3]), ARGV[1])
        if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 0 then
          redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'k', ARGV[1], 'o', 'watch')
        end
        local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
        redis.call('PEXPIREAT', KEYS[1], last[2])
        redis.call('PEXPIREAT', KEYS[2], last[2])
        local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1][1]
        local cutoff = math.min(now - tonumber(ARGV[4]), tonumber(string.match(newest, '^(%d+)')))
        redis.call('XTRIM', KEYS[3], 'MINID', '~', string.format('%d', cutoff))
        redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[3]) + tonumber(ARGV[4]))
        return newest
        """;
}
