using System.Collections.Concurrent;
using System.Net;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Coalesces commands issued at the same time by different requests into one write to Redis. A command is queued and
/// one drain on the thread pool sends everything queued by then as one StackExchange.Redis batch: one socket write here,
/// one read and one reply write in Redis. Nothing waits for company: a command alone goes out on the next thread-pool
/// turn, so batching costs no latency at low load and saves system calls on both sides under load.
/// </summary>
/// <remarks>
/// <para>
/// Within one drain, commands that can be combined are: GETs of one hash slot go out as one MGET, and calls of one
/// <see cref="CombinedScript"/> in one hash slot as one script call, so Redis runs Lua once for all of them. A call
/// that Redis refuses fails alone, combined or not. Increments of one counter (a script that
/// <see cref="CombinedScript.AddsDeltas"/>) are added up first: a hot counter hit by many requests at once costs Redis
/// one increment per drain, and each caller still gets the value it would have seen had the increments run one after
/// another.
/// </para>
/// <para>
/// Commands still go over the one shared multiplexer and keep its fail-fast and timeout behaviour. A command that is
/// not combined (a DEL script, an MGET of many keys) is sent after the combined commands queued before it and before
/// those queued after it, so it neither overtakes nor is overtaken. Combined commands of different kinds (a GET, an
/// increment, a set) queued at the same moment may run in either order, as they would from concurrent requests:
/// await a call before issuing one that depends on it.
/// </para>
/// <para>
/// With <see cref="RedisOptions.WaitReplicas"/> above 0, every server that took a write in a drain is sent one
/// <c>WAIT</c> right after it, on the same connection, and a write answers only once that many replicas hold it; when
/// fewer confirm, it fails with <see cref="HornbeamError.OutcomeUnknown"/>. WAIT holds the connection until the
/// replicas answer or its timeout passes: the one blocking command Hornbeam sends on the shared multiplexer, because
/// Redis counts only the writes of the connection that asks. With Sentinel, a write also answers outcome-unknown when
/// the server that took it is not the master the Sentinels name (<paramref name="refuses"/> says why). On a cluster, such
/// a write is not redirected, so the server that runs it is the one its WAIT goes to.
/// </para>
/// </remarks>
public sealed class RedisBatcher(IConnectionMultiplexer redis, RedisOptions? options = null,
    Func<EndPoint, string?>? refuses = null) : IThreadPoolWorkItem
{
    // Bounds one write, so one drain does not hold a huge batch while new commands queue behind it.
    private const int MaxBatch = 256;

    private readonly ConcurrentQueue<Command> _queue = new();
    private readonly List<Command> _issued = new(MaxBatch);
    private readonly List<Group> _groups = [];
    private int _draining;
    private bool? _isCluster;
    private readonly int _waitReplicas = options?.WaitReplicas ?? 0;
    private readonly int _waitTimeoutMs = Math.Max(10, (options ?? new RedisOptions()).DeadlineMs / 2);
    private readonly Dictionary<EndPoint, Confirmation> _confirmations = [];
    private Confirmation? _primaries;
    private Confirmation? _unserved;
    private bool? _allConnected;
    private IServer[] _servers = [];

    /// <summary>GET, batched; GETs of one slot queued together go out as one MGET.</summary>
    public Task<RedisValue> StringGetAsync(RedisKey key) => Enqueue(new StringGet(key));

    /// <summary>MGET, batched. On a cluster, where one MGET must not span slots, each key joins the GETs of its slot.</summary>
    public async Task<RedisValue[]> StringGetAsync(RedisKey[] keys) =>
        IsCluster() ? await Task.WhenAll(Array.ConvertAll(keys, StringGetAsync)) : await Enqueue(new StringGetMany(keys));

    /// <summary>
    /// PTTL, batched: the key's remaining lifetime, null when it has none or is absent. Queued with a GET of the same
    /// key, it goes out in the same write right after the GETs, without breaking up the drain's combined commands.
    /// </summary>
    public Task<TimeSpan?> KeyTimeToLiveAsync(RedisKey key) => Enqueue(new KeyTimeToLive(key));

    /// <summary>
    /// EVALSHA (EVAL the first time), batched; a script that <paramref name="writes"/> is confirmed by replicas when
    /// configured.
    /// </summary>
    public Task<RedisResult> ScriptEvaluateAsync(string script, RedisKey[] keys, RedisValue[] values, bool writes = true) =>
        Enqueue(new ScriptEvaluate(script, keys, values, writes));

    /// <summary>
    /// One call of a <see cref="CombinedScript"/>, batched: calls of one slot queued together run as one script call.
    /// Answers this call's element of the script's answer; an error element fails this call alone.
    /// </summary>
    internal Task<RedisResult> ScriptEvaluateAsync(CombinedScript script, RedisKey[] keys, RedisValue[] values)
    {
        if (keys.Length != script.KeysPerCall || values.Length != script.ValuesPerCall)
            throw new ArgumentException($"This script takes {script.KeysPerCall} keys and {script.ValuesPerCall} values per call.");
        return Enqueue(new CombinedScriptCall(this, script, keys, values));
    }

    private Task<T> Enqueue<T>(Command<T> command)
    {
        _queue.Enqueue(command);
        if (Interlocked.Exchange(ref _draining, 1) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        return command.Task;
    }

    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            var batch = redis.GetDatabase().CreateBatch();
            var taken = 0;
            while (taken < MaxBatch && _queue.TryDequeue(out var command))
            {
                taken++;
                if (command.Combination is { } combination)
                {
                    // Nothing may escape the drain: it would stay taken and every later command would wait forever.
                    try
                    {
                        Join(combination, command);
                    }
                    catch (Exception e)
                    {
                        command.Fail(e);
                    }
                    continue;
                }
                IssueGroups(batch);
                Issue(batch, command);
            }
            IssueGroups(batch);
            if (_issued.Count > 0)
            {
                try
                {
                    batch.Execute();
                }
                catch (Exception e)
                {
                    foreach (var command in _issued) command.Fail(e);
                }
            }
            _issued.Clear();
            if (_confirmations.Count > 0 || _primaries is not null || _unserved is not null) SendWaits();
            _allConnected = null;
            if (taken == MaxBatch) continue;

            // Hand the drain back, then take it again if a command slipped in after the last TryDequeue.
            Volatile.Write(ref _draining, 0);
            if (_queue.IsEmpty || Interlocked.Exchange(ref _draining, 1) != 0) return;
        }
    }

    private void Join(object combination, Command command)
    {
        // On a cluster one command goes to one slot; a single server takes every key in one command.
        var slot = IsCluster() ? redis.HashSlot(command.FirstKey) : 0;
        foreach (var group in _groups)
        {
            if (group.Slot != slot || !ReferenceEquals(group.Combination, combination)) continue;
            group.Members.Add(command);
            return;
        }
        _groups.Add(new Group(combination, slot, [command]));
    }

    private void IssueGroups(IBatch batch)
    {
        foreach (var group in _groups)
        {
            if (group.Members is [var single]) Issue(batch, single);
            else
            {
                try
                {
                    if (_waitReplicas > 0 && group.Members[0].Writes)
                    {
                        // One script call serves the group, so one server takes all of it.
                        var confirmation = ConfirmationFor(group.Members[0].FirstKey);
                        foreach (var member in group.Members) member.ConfirmBy(confirmation);
                    }
                    group.Members[0].IssueCombined(batch, group.Members);
                    _issued.AddRange(group.Members);
                }
                catch (Exception e)
                {
                    foreach (var member in group.Members) member.Fail(e);
                }
            }
        }
        _groups.Clear();
    }

    private void Issue(IBatch batch, Command command)
    {
        try
        {
            if (_waitReplicas > 0 && command.Writes) command.ConfirmBy(ConfirmationFor(command.FirstKey));
            command.Issue(batch);
            _issued.Add(command);
        }
        catch (Exception e)
        {
            command.Fail(e);
        }
    }

    /// <summary>
    /// The confirmation of this drain's writes to the server that owns <paramref name="key"/>, made before they are
    /// sent.
    /// </summary>
    private Confirmation ConfirmationFor(RedisKey key)
    {
        // Not a cluster: a write goes to whichever server answers as master, and while an old master that came back still
        // does so too, that may be either. All of them are asked, so a write confirmed by the wrong one never counts.
        if (!IsCluster()) return _primaries ??= new Confirmation(Array.FindAll(redis.GetServers(), s => s.IsConnected && !s.IsReplica),
            _waitReplicas, _waitTimeoutMs, refuses);
        // A cluster write is sent with NoRedirect (see Confirmation.WriteFlags), so it runs only on the server the client
        // picked for its slot, and WAIT goes to that same server. While the slot's master is disconnected the client
        // picks any other server instead, for the write and for GetServer alike, and not necessarily the same one: a
        // WAIT there would count that server's replicas, which hold nothing of this write. So while any server is
        // disconnected, a server confirms a write only if some server's view of the cluster names it the slot's master.
        var server = redis.GetServer(key);
        if (!AllConnected() && !NamedMasterOf(server, redis.HashSlot(key)))
            return _unserved ??= new Confirmation([], _waitReplicas, _waitTimeoutMs, refuses,
                refused: $"the master of the key's hash slot {redis.HashSlot(key)} is not reachable (a failover may be under way)");
        if (!_confirmations.TryGetValue(server.EndPoint, out var confirmation))
            _confirmations[server.EndPoint] = confirmation = new Confirmation([server], _waitReplicas, _waitTimeoutMs, refuses);
        return confirmation;
    }

    /// <summary>Whether the client is connected to every server it knows, asked once per drain.</summary>
    private bool AllConnected()
    {
        if (_allConnected is { } known) return known;
        _servers = redis.GetServers();
        foreach (var server in _servers)
            if (!server.IsConnected) return (_allConnected = false).Value;
        return (_allConnected = true).Value;
    }

    /// <summary>
    /// Whether any server's view of the cluster (the last one the client read from it) names <paramref name="server"/>
    /// master of <paramref name="slot"/>. Any view, not only the server's own: a replica promoted since the client read
    /// its view still calls itself a replica there, while the view that told the client of the promotion names it. By
    /// node id, which no address form (a host name or an IP) changes.
    /// </summary>
    private bool NamedMasterOf(IServer server, int slot)
    {
        string? self = null;
        foreach (var node in server.ClusterConfiguration?.Nodes ?? [])
            if (node.IsMyself) self = node.NodeId;
        if (self is null) return false;
        foreach (var other in _servers)
            if (other.ClusterConfiguration?.GetBySlot(slot)?.NodeId == self) return true;
        return false;
    }

    /// <summary>One WAIT per server that took writes, sent after them on the same connection.</summary>
    private void SendWaits()
    {
        _primaries?.Send();
        _primaries = null;
        _unserved?.Send();
        _unserved = null;
        foreach (var confirmation in _confirmations.Values) confirmation.Send();
        _confirmations.Clear();
    }

    /// <summary>
    /// Whether Redis is a cluster, asked of the first connected server and then remembered: a deployment does not turn
    /// into a cluster while running. While no server is connected every command fails anyway, so the answer is false.
    /// </summary>
    private bool IsCluster()
    {
        if (_isCluster is { } known) return known;
        foreach (var server in redis.GetServers())
            if (server.IsConnected) return (_isCluster = server.ServerType == ServerType.Cluster).Value;
        return false;
    }

    private sealed record Group(object Combination, int Slot, List<Command> Members);

    /// <summary>Completes with null once enough replicas hold one server's writes of a drain, else with the failure to report.</summary>
    private sealed class Confirmation(IServer[] servers, int replicas, int timeoutMs, Func<EndPoint, string?>? refuses,
        string? refused = null)
    {
        private readonly TaskCompletionSource<Exception?> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly int _replicas = replicas;
        private readonly int _timeoutMs = timeoutMs;
        private readonly IServer[] _servers = servers;
        private readonly Func<EndPoint, string?>? _refuses = refuses;

        public Task<Exception?> Task => _done.Task;

        /// <summary>
        /// How the writes this confirms are sent: on a cluster, not redirected, so that a write runs only on the server
        /// the WAIT goes to (a MOVED reply fails it unapplied). Without a cluster there is nothing to redirect.
        /// </summary>
        public CommandFlags WriteFlags { get; } = servers is [var one] && one.ServerType == ServerType.Cluster || refused is not null
            ? CommandFlags.NoRedirect : CommandFlags.None;

        public void Send()
        {
            if (refused is not null)
            {
                _done.TrySetResult(Unconfirmed(refused, null));
                return;
            }
            if (_servers is not [var server])
            {
                _done.TrySetResult(Unconfirmed(_servers.Length == 0 ? "no server answers as master"
                    : $"{_servers.Length} servers answer as master ({string.Join(", ", _servers.Select(s => s.EndPoint))}): a failover " +
                        "is under way", null));
                return;
            }
            Task<RedisResult> wait;
            try
            {
                wait = server.ExecuteAsync("WAIT", _replicas, _timeoutMs);
            }
            catch (Exception e)
            {
                _done.TrySetResult(Unconfirmed(e.Message, e));
                return;
            }
            wait.ContinueWith(static (t, state) =>
            {
                var self = (Confirmation)state!;
                // Asked after WAIT, the later moment: a master Sentinel replaced meanwhile does not count.
                if (t.IsCompletedSuccessfully && (long)t.Result >= self._replicas)
                    self._done.TrySetResult(
                        self._refuses?.Invoke(self._servers[0].EndPoint) is { } why ? self.Unconfirmed(why, null) : null);
                else if (t.IsCompletedSuccessfully)
                    self._done.TrySetResult(
                        self.Unconfirmed($"{(long)t.Result} of {self._replicas} confirmed it within {self._timeoutMs} ms", null));
                else self._done.TrySetResult(self.Unconfirmed(t.Exception?.InnerException?.Message ?? "WAIT was cancelled",
                    t.Exception?.InnerException));
            }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        private HornbeamException Unconfirmed(string why, Exception? inner) => new(HornbeamError.OutcomeUnknown,
            $"Redis applied the change but not enough replicas confirmed holding it ({why}; Hornbeam:Redis:WaitReplicas is {_replicas}), " +
            "so a failover may still lose it. Retry only with the same Idempotency-Key.", inner);
    }

    private abstract class Command
    {
        /// <summary>Whether the command changes data, and so waits for replicas when they must confirm writes.</summary>
        public virtual bool Writes => false;

        public abstract void ConfirmBy(Confirmation confirmation);

        /// <summary>The flags a write is sent with: those of its confirmation, if it has one.</summary>
        protected CommandFlags Flags { get; set; }

        /// <summary>Commands with the same non-null combination (and slot) can go to Redis as one.</summary>
        public virtual object? Combination => null;

        public virtual RedisKey FirstKey => default;

        public abstract void Issue(IBatch batch);

        /// <summary>Sends <paramref name="members"/> (this command among them, all of one combination) as one command.</summary>
        public virtual void IssueCombined(IBatch batch, List<Command> members) => throw new NotSupportedException();

        public abstract void Fail(Exception e);
    }

    // Synchronous continuations: StackExchange.Redis already completes its tasks off its reader, so the request
    // continues on that thread-pool thread with no second hop.
    private abstract class Command<T> : Command
    {
        private readonly TaskCompletionSource<T> _done = new();
        private Confirmation? _confirmation;

        public Task<T> Task => _done.Task;

        public override void ConfirmBy(Confirmation confirmation)
        {
            _confirmation = confirmation;
            Flags = confirmation.WriteFlags;
        }

        public override void Fail(Exception e) => _done.TrySetException(e);

        /// <summary>Answers <paramref name="result"/>; a write that replicas must confirm answers once they have.</summary>
        protected void Complete(T result)
        {
            if (_confirmation is null)
            {
                _done.TrySetResult(result);
                return;
            }
            _confirmation.Task.ContinueWith(static (t, state) =>
            {
                var (command, result) = ((Command<T>, T))state!;
                if (t.Result is { } failure) command._done.TrySetException(failure);
                else command._done.TrySetResult(result);
            }, (this, result), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        protected void CompleteFrom(Task<T> sent) =>
            sent.ContinueWith(static (t, state) =>
            {
                var command = (Command<T>)state!;
                if (t.IsCompletedSuccessfully) command.Complete(t.Result);
                else if (t.IsCanceled) command._done.TrySetCanceled();
                else command._done.TrySetException(t.Exception!.InnerExceptions);
            }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        /// <summary>Completes every member from the one combined command's answer, split by <paramref name="complete"/>.</summary>
        protected static void CompleteAllFrom<TAnswer>(Task<TAnswer> sent, List<Command> members, Action<TAnswer, List<Command>> complete)
        {
            // Each group has a list of its own, so it can be kept until Redis answers.
            sent.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    try
                    {
                        complete(t.Result, members);
                        return;
                    }
                    catch (Exception e)
                    {
                        foreach (var member in members) member.Fail(e);
                        return;
                    }
                }
                var error = t.IsCanceled ? new TaskCanceledException(t) : t.Exception!.InnerException!;
                foreach (var member in members) member.Fail(error);
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private static readonly object GetCombination = new();

    private sealed class StringGet(RedisKey key) : Command<RedisValue>
    {
        public override object Combination => GetCombination;

        public override RedisKey FirstKey => key;

        public override void Issue(IBatch batch) => CompleteFrom(batch.StringGetAsync(key));

        public override void IssueCombined(IBatch batch, List<Command> members)
        {
            var keys = new RedisKey[members.Count];
            for (var i = 0; i < keys.Length; i++) keys[i] = ((StringGet)members[i]).FirstKey;
            CompleteAllFrom(batch.StringGetAsync(keys), members, static (values, all) =>
            {
                for (var i = 0; i < values.Length; i++) ((StringGet)all[i]).Complete(values[i]);
            });
        }
    }

    private static readonly object TimeToLiveCombination = new();

    private sealed class KeyTimeToLive(RedisKey key) : Command<TimeSpan?>
    {
        public override object Combination => TimeToLiveCombination;

        public override RedisKey FirstKey => key;

        public override void Issue(IBatch batch) => CompleteFrom(batch.KeyTimeToLiveAsync(key));

        // Redis has no command for many lifetimes, so the PTTLs of one slot go out as one script, as its GETs go out as
        // one MGET: one command per slot whatever the number of readers.
        public override void IssueCombined(IBatch batch, List<Command> members)
        {
            var keys = new RedisKey[members.Count];
            for (var i = 0; i < keys.Length; i++) keys[i] = members[i].FirstKey;
            CompleteAllFrom(batch.ScriptEvaluateAsync(RedisScripts.StateTimesToLive, keys), members, static (answer, all) =>
            {
                var milliseconds = (long[])answer!;
                for (var i = 0; i < milliseconds.Length; i++)
                    ((KeyTimeToLive)all[i]).Complete(milliseconds[i] < 0 ? null : TimeSpan.FromMilliseconds(milliseconds[i]));
            });
        }
    }

    private sealed class StringGetMany(RedisKey[] keys) : Command<RedisValue[]>
    {
        public override void Issue(IBatch batch) => CompleteFrom(batch.StringGetAsync(keys));
    }

    private sealed class ScriptEvaluate(string script, RedisKey[] keys, RedisValue[] values, bool writes) : Command<RedisResult>
    {
        public override bool Writes => writes;

        public override RedisKey FirstKey => keys.Length > 0 ? keys[0] : default;

        public override void Issue(IBatch batch) => CompleteFrom(batch.ScriptEvaluateAsync(script, keys, values, Flags));
    }

    private sealed class CombinedScriptCall(RedisBatcher batcher, CombinedScript script, RedisKey[] keys, RedisValue[] values,
        bool mayAdd = true)
        : Command<RedisResult>
    {
        private readonly RedisBatcher _batcher = batcher;
        private readonly CombinedScript _script = script;
        private readonly RedisKey[] _keys = keys;
        private readonly RedisValue[] _values = values;
        private readonly bool _mayAdd = mayAdd && script.AddsDeltas;

        public override object Combination => _script;

        public override bool Writes => _script.Writes;

        public override RedisKey FirstKey => _keys[0];

        public override void Issue(IBatch batch) => IssueCombined(batch, [this]);

        public override void IssueCombined(IBatch batch, List<Command> members)
        {
            if (_script.AddsDeltas && SharesACounter(members))
            {
                IssueSends(batch, members, Sends(members));
                return;
            }
            var allKeys = new RedisKey[members.Count * _script.KeysPerCall];
            var allValues = new RedisValue[members.Count * _script.ValuesPerCall];
            for (var i = 0; i < members.Count; i++)
            {
                var call = (CombinedScriptCall)members[i];
                call._keys.CopyTo(allKeys, i * _script.KeysPerCall);
                call._values.CopyTo(allValues, i * _script.ValuesPerCall);
            }
            CompleteAllFrom(batch.ScriptEvaluateAsync(_script.Lua, allKeys, allValues, Flags), members, static (answer, all) =>
            {
                var elements = Elements(answer, all.Count);
                for (var i = 0; i < elements.Length; i++) ((CombinedScriptCall)all[i]).CompleteWith(elements[i]);
            });
        }

        private void IssueSends(IBatch batch, List<Command> members, List<Send> sends)
        {
            var allKeys = new RedisKey[sends.Count * _script.KeysPerCall];
            var allValues = new RedisValue[sends.Count * _script.ValuesPerCall];
            for (var i = 0; i < sends.Count; i++)
            {
                var first = sends[i].Calls[0];
                first._keys.CopyTo(allKeys, i * _script.KeysPerCall);
                first._values.CopyTo(allValues, i * _script.ValuesPerCall);
                allValues[i * _script.ValuesPerCall] = sends[i].Sum;
            }
            CompleteAllFrom(batch.ScriptEvaluateAsync(_script.Lua, allKeys, allValues, Flags), members, (answer, _) =>
            {
                var elements = Elements(answer, sends.Count);
                for (var i = 0; i < elements.Length; i++) sends[i].Complete(elements[i]);
            });
        }

        private static RedisResult[] Elements(RedisResult answer, int calls)
        {
            var elements = (RedisResult[])answer!;
            if (elements.Length != calls)
                throw new RedisException($"The combined script answered {elements.Length} results for {calls} calls.");
            return elements;
        }

        /// <summary>Whether two calls name the same counter; only then are sends built (most groups are of distinct keys).</summary>
        private static bool SharesACounter(List<Command> members)
        {
            if (members.Count > 16)
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (CombinedScriptCall call in members) if (!seen.Add(call.CounterName)) return true;
                return false;
            }
            for (var i = 1; i < members.Count; i++)
                for (var j = 0; j < i; j++)
                    if (((CombinedScriptCall)members[i]).SameCounterAs((CombinedScriptCall)members[j])) return true;
            return false;
        }

        /// <summary>
        /// One send per call; but for a script that adds deltas, calls of one counter (the same keys and other values)
        /// whose deltas have one sign share a send of their sum. Deltas of mixed signs are not added up, so no caller
        /// is answered a value the counter would not pass through when the calls run one after another.
        /// </summary>
        private static List<Send> Sends(List<Command> members)
        {
            var sends = new List<Send>(members.Count);
            Dictionary<string, Send>? open = null;
            foreach (CombinedScriptCall call in members)
            {
                if (call._mayAdd)
                {
                    open ??= new Dictionary<string, Send>(members.Count, StringComparer.Ordinal);
                    var name = call.CounterName;
                    if (open.TryGetValue(name, out var same) && same.TryAdd(call)) continue;
                    var send = new Send(call);
                    sends.Add(send);
                    open[name] = send;
                }
                else sends.Add(new Send(call));
            }
            return sends;
        }

        private long Delta => (long)_values[0];

        // Hashed to find calls of one counter: the last value when there is one besides the delta (the state key, for
        // StateIncrement), as comparing a RedisKey built from a prefix against one of another prefix allocates both.
        // Text, so neither hashing nor comparing reads it as a number; two counters whose names read alike only miss
        // a lookup or get compared exactly by SameCounterAs.
        private string CounterName => (_values.Length > 1 ? (string?)_values[^1] : (string?)_keys[0]) ?? "";

        // The same keys and other values; the values first, being the cheaper compare.
        private bool SameCounterAs(CombinedScriptCall other)
        {
            for (var v = 1; v < _values.Length; v++) if (!SameValue(_values[v], other._values[v])) return false;
            for (var k = 0; k < _keys.Length; k++) if (_keys[k] != other._keys[k]) return false;
            return true;
        }

        // RedisValue's == first tries to read each side as a number (RedisValue.Simplify, visible in the INCR benchmark's
        // profile, all of it from here); two strings, as state keys are, are compared as the text they are.
        private static bool SameValue(RedisValue a, RedisValue b) =>
            a.Box() is string x && b.Box() is string y ? string.Equals(x, y, StringComparison.Ordinal) : a == b;

        private void CompleteWith(RedisResult element)
        {
            if (element.Resp2Type == ResultType.Array) Fail(new RedisServerException(RedisErrorKind.Unknown, CommandFlags.None,
                element[0].ToString()!));
            else Complete(element);
        }

        /// <summary>One call of the script as sent: one caller's, or several callers' deltas added up.</summary>
        private sealed class Send(CombinedScriptCall first)
        {
            public List<CombinedScriptCall> Calls { get; } = [first];

            /// <summary>Each caller's delta, in the order of <see cref="Calls"/>.</summary>
            private readonly List<long> _deltas = [first.Delta];

            public long Sum { get; private set; } = first.Delta;

            public bool TryAdd(CombinedScriptCall call)
            {
                var delta = call.Delta;
                if (!Calls[0].SameCounterAs(call) || (Sum < 0 && delta > 0) || (Sum > 0 && delta < 0)) return false;
                long added;
                try
                {
                    added = checked(Sum + delta);
                }
                catch (OverflowException)
                {
                    return false;
                }
                _deltas.Add(delta);
                Sum = added;
                Calls.Add(call);
                return true;
            }

            public void Complete(RedisResult element)
            {
                if (Calls is [var only])
                {
                    only.CompleteWith(element);
                    return;
                }
                if (element.Resp2Type == ResultType.Array)
                {
                    // The sum overflows, yet the first callers alone might not: each goes again on its own, so exactly
                    // those whose delta still fits succeed. Any other refusal (not an integer) is every caller's.
                    if (element[0].ToString()!.Contains("overflow", StringComparison.OrdinalIgnoreCase))
                        foreach (var call in Calls)
                            call.CompleteFrom(call._batcher.Enqueue(new CombinedScriptCall(call._batcher, call._script, call._keys,
                                call._values, mayAdd: false)));
                    else
                        foreach (var call in Calls) call.CompleteWith(element);
                    return;
                }
                // As if the calls ran one after another in queue order: the last caller is answered the sum's result,
                // each earlier one that value less the deltas after its own.
                var value = (long)element;
                for (var i = Calls.Count - 1; i >= 0; i--)
                {
                    Calls[i].Complete(RedisResult.Create(value));
                    value -= _deltas[i];
                }
            }
        }
    }
}
