namespace Hornbeam.Redis;

// Access: request budgets and failed-attempt counts, shared by every replica.
internal static partial class RedisScripts
{
    // A budget is read, checked and spent in one step, so replicas spending one key's budget at once never both take
    // its last permit. GCRA: one number per budget, the time at which it would be full again. Redis's clock (TIME) is
    // the one clock every replica's requests are judged by, so a replica whose clock runs behind gains nothing.
    // Combined: each call brings (budget) and (interval µs, burst); answers 0 when admitted, else µs until a permit.
    // Calls of one budget in one script run one after another on its number, read once and written once (a hot key's
    // requests arrive together), and each sees the permits the earlier ones took.
    // Writes = false: a rate budget lost in a failover costs at most one refill, so it is never worth a WAIT.
    public static readonly CombinedScript RateAcquire = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tats, spent, out = {}, {}, {}
        for i = 1, #KEYS do
          local k = KEYS[i]
          local interval = tonumber(ARGV[2 * i - 1])
          local tat = tats[k] or tonumber(redis.call('GET', k) or 0)
          if tat < now then tat = now end
          local wait = tat + interval - tonumber(ARGV[2 * i]) * interval - now
          if wait > 0 then
            out[i] = wait
          else
            tat = tat + interval
            spent[k] = true
            out[i] = 0
          end
          tats[k] = tat
        end
        for k in pairs(spent) do
          redis.call('SET', k, string.format('%d', tats[k]), 'PX', math.ceil((tats[k] - now) / 1000) + 1)
        end
        return out
        """, KeysPerCall: 1, ValuesPerCall: 2) { Writes = false };

    // Counting and starting the window in one step, so a window always ends. KEYS: counter. ARGV: window ms.
    // Answers {count in this window, ms until the window ends}.
    public const string AuthFailure = """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
        return { n, ttl }
        """;
}
