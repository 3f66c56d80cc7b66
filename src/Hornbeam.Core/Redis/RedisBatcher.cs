using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Coalesces commands issued at the same time by different requests into one write to Redis. A command is queued and
/// one drain on the thread pool sends everything queued by then as one StackExchange.Redis batch: one socket write here,
/// one read and one reply write in Redis. Nothing waits for company: a command alone goes out on the next thread-pool
/// turn, so batching costs no latency at low load and saves system calls on both sides under load.
/// </summary>
/// <remarks>
/// Commands still go over the one shared multiplexer, keep its fail-fast and timeout behaviour, and complete in the
/// order Redis answers them. Use it for short single-command or single-script operations on the request path.
/// </remarks>
public sealed class RedisBatcher(IConnectionMultiplexer redis) : IThreadPoolWorkItem
{
    // Bounds one write, so one drain does not hold a huge batch while new commands queue behind it.
    private const int MaxBatch = 256;

    private readonly ConcurrentQueue<Command> _queue = new();
    private readonly List<Command> _issued = new(MaxBatch);
    private int _draining;

    /// <summary>GET, batched.</summary>
    public Task<RedisValue> StringGetAsync(RedisKey key) => Enqueue(new StringGet(key));

    /// <summary>MGET, batched; on a cluster the keys must share a slot.</summary>
    public Task<RedisValue[]> StringGetAsync(RedisKey[] keys) => Enqueue(new StringGetMany(keys));

    /// <summary>EVALSHA (EVAL the first time), batched.</summary>
    public Task<RedisResult> ScriptEvaluateAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        Enqueue(new ScriptEvaluate(script, keys, values));

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
            while (_issued.Count < MaxBatch && _queue.TryDequeue(out var command))
            {
                try
                {
                    command.Issue(batch);
                    _issued.Add(command);
                }
                catch (Exception e)
                {
                    command.Fail(e);
                }
            }
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
            var full = _issued.Count == MaxBatch;
            _issued.Clear();
            if (full) continue;

            // Hand the drain back, then take it again if a command slipped in after the last TryDequeue.
            Volatile.Write(ref _draining, 0);
            if (_queue.IsEmpty || Interlocked.Exchange(ref _draining, 1) != 0) return;
        }
    }

    private abstract class Command
    {
        public abstract void Issue(IBatch batch);
        public abstract void Fail(Exception e);
    }

    // Synchronous continuations: StackExchange.Redis already completes its tasks off its reader, so the request
    // continues on that thread-pool thread with no second hop.
    private abstract class Command<T> : Command
    {
        private readonly TaskCompletionSource<T> _done = new();

        public Task<T> Task => _done.Task;

        public override void Fail(Exception e) => _done.TrySetException(e);

        protected void CompleteFrom(Task<T> sent) =>
            sent.ContinueWith(static (t, state) =>
            {
                var done = ((Command<T>)state!)._done;
                if (t.IsCompletedSuccessfully) done.TrySetResult(t.Result);
                else if (t.IsCanceled) done.TrySetCanceled();
                else done.TrySetException(t.Exception!.InnerExceptions);
            }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private sealed class StringGet(RedisKey key) : Command<RedisValue>
    {
        public override void Issue(IBatch batch) => CompleteFrom(batch.StringGetAsync(key));
    }

    private sealed class StringGetMany(RedisKey[] keys) : Command<RedisValue[]>
    {
        public override void Issue(IBatch batch) => CompleteFrom(batch.StringGetAsync(keys));
    }

    private sealed class ScriptEvaluate(string script, RedisKey[] keys, RedisValue[] values) : Command<RedisResult>
    {
        public override void Issue(IBatch batch) => CompleteFrom(batch.ScriptEvaluateAsync(script, keys, values));
    }
}
