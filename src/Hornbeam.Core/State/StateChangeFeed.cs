using System.Runtime.CompilerServices;
using Hornbeam.Redis;
using StackExchange.Redis;

namespace Hornbeam.State;

/// <summary>
/// A watch on a prefix (<see cref="IStateChanges.WatchAsync"/>): enumerate it for the changes, once. While it is open it
/// renews its prefix's lease in every bucket; dispose it to stop (recording stops when the lease runs out). It wakes on the
/// write scripts' PUBLISH and reads the bucket streams with XRANGE, never a blocking command. When Redis fails, the
/// enumeration throws; watch again with the last <see cref="StateChange.Id"/>.
/// </summary>
public sealed class StateChangeFeed : IAsyncEnumerable<StateChange>, IAsyncDisposable
{
    private const int Batch = 256;
    private const int AllBuckets = (1 << RedisKeys.StateBuckets) - 1;

    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKeys _keys;
    private readonly StateChangesOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private ChannelListener? _listener;
    private Task _renewing = Task.CompletedTask;
    private Exception? _failure;
    private int _dirty;
    private StateChangePosition _position;

    internal StateChangeFeed(IConnectionMultiplexer redis, RedisKeys keys, StateChangesOptions options, string prefix)
    {
        (_redis, _keys, _options, Prefix) = (redis, keys, options, prefix);
    }

    /// <summary>The watched prefix.</summary>
    public string Prefix { get; }

    /// <summary>Where the feed starts: the position it delivers changes after.</summary>
    public string StartsAfter { get; private set; } = "";

    private IDatabase Db => _redis.GetDatabase();

    internal async Task StartAsync(RedisChannels channels, StateChangePosition? after, CancellationToken cancellationToken)
    {
        // Listening first, then registering: a change recorded once the lease holds always finds the listener in place.
        _listener = await channels.ListenAsync(_keys.StateChangesChannel, OnMessage, cancellationToken);
        var end = await RegisterAsync().WaitAsync(cancellationToken);
        _position = after ?? end;
        StartsAfter = _position.ToString();
        if (after is not null) _dirty = AllBuckets;
        _redis.ConnectionFailed += OnConnectionFailed;
        _renewing = RenewAsync();
    }

    private void OnMessage(RedisValue message)
    {
        if (int.TryParse((string?)message, System.Globalization.NumberStyles.AllowHexSpecifier, null, out var bucket)
            && bucket is >= 0 and < RedisKeys.StateBuckets)
            Wake(1 << bucket);
    }

    private void Wake(int buckets)
    {
        Interlocked.Or(ref _dirty, buckets);
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    private void Fail(Exception e)
    {
        Interlocked.CompareExchange(ref _failure, e, null);
        Wake(0);
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
            Fail(new HornbeamException(HornbeamError.Unavailable,
                "This node lost its connection to Redis; watch again with your last event id (any node)."));
    }

    /// <summary>Renews the lease every third of it, and then reads every bucket too, in case a wake-up was lost.</summary>
    private async Task RenewAsync()
    {
        using var timer = new PeriodicTimer(_options.Lease / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                await RegisterAsync();
                Wake(AllBuckets);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>Takes or renews the lease in every bucket; answers the position at the streams' ends.</summary>
    private async Task<StateChangePosition> RegisterAsync()
    {
        var db = Db;
        var calls = new Task<RedisResult>[RedisKeys.StateBuckets];
        for (var b = 0; b < calls.Length; b++)
            calls[b] = db.ScriptEvaluateAsync(RedisScripts.StateChangesWatch,
                [_keys.StateWatch(b), _keys.StateWatchers(b), _keys.StateChanges(b)],
                [Prefix, _options.MaxLength, (long)_options.Lease.TotalMilliseconds, (long)_options.Retention.TotalMilliseconds]);
        await Task.WhenAll(calls);
        var position = StateChangePosition.Start();
        for (var b = 0; b < calls.Length; b++) position.Set(b, StateChangePosition.ParseId((string)calls[b].Result!));
        return position;
    }

    /// <inheritdoc />
    public async IAsyncEnumerator<StateChange> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (Volatile.Read(ref _failure) is { } failure) throw failure;
            var dirty = Interlocked.Exchange(ref _dirty, 0);
            if (dirty == 0)
            {
                await _wake.WaitAsync(cancellationToken);
                continue;
            }
            for (var b = 0; b < RedisKeys.StateBuckets; b++)
            {
                if ((dirty & (1 << b)) == 0) continue;
                var more = true;
                while (more)
                {
                    var (changes, again) = await ReadAsync(b);
                    more = again;
                    foreach (var change in changes) yield return change;
                }
            }
        }
    }

    /// <summary>The changes under the prefix after this feed's position in <paramref name="bucket"/>, and whether more remain.</summary>
    private async Task<(List<StateChange> Changes, bool More)> ReadAsync(int bucket)
    {
        var at = _position[bucket];
        var entries = await Db.StreamRangeAsync(_keys.StateChanges(bucket), StateChangePosition.FormatId(at), "+", Batch + 1);
        var changes = new List<StateChange>();
        var start = 0;
        // A position is an entry that was in the stream, and trimming never removes the newest entry: when it is gone,
        // changes after it were trimmed unread (or it is not this stream's).
        if (entries.Length > 0 && StateChangePosition.ParseId(entries[0].Id!) == at) start = 1;
        else
        {
            changes.Add(await GapAsync("changes after the given position are no longer kept (retention) or it is not one " +
                                       "of this deployment's"));
            return (changes, false);
        }
        for (var i = start; i < entries.Length; i++)
        {
            var entry = entries[i];
            var id = StateChangePosition.ParseId(entry.Id!);
            string? key = null, op = null;
            RedisValue value = RedisValue.Null, delta = RedisValue.Null, etag = RedisValue.Null;
            foreach (var field in entry.Values)
            {
                switch ((string?)field.Name)
                {
                    case "k": key = field.Value; break;
                    case "o": op = field.Value; break;
                    case "v": value = field.Value; break;
                    case "d": delta = field.Value; break;
                    case "e": etag = field.Value; break;
                }
            }
            _position = _position.With(bucket, id);
            if (key is null || op is null) continue;
            if (op == "watch")
            {
                // Nothing was recorded for this prefix before this entry: its lease had run out.
                if (key != Prefix) continue;
                changes.Add(await GapAsync("this prefix went unwatched for longer than Hornbeam:StateChanges:Lease, so changes " +
                                           "were not recorded"));
                return (changes, false);
            }
            if (!key.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            changes.Add(new StateChange(op, key, value.IsNull ? null : (byte[])value!, delta.IsNull ? null : (long)delta,
                StateChangePosition.FormatId(id), _position.ToString(), ETag: etag.IsNull ? null : StateETags.Quote(etag!)));
        }
        return (changes, entries.Length > Batch);
    }

    /// <summary>A gap: the feed goes on from the streams' ends now.</summary>
    private async Task<StateChange> GapAsync(string reason)
    {
        _position = await RegisterAsync();
        return new StateChange(StateChange.Gap, "", null, null, null, _position.ToString(), reason);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _redis.ConnectionFailed -= OnConnectionFailed;
        await _stop.CancelAsync();
        await _renewing;
        _listener?.Dispose();
        _stop.Dispose();
    }
}
