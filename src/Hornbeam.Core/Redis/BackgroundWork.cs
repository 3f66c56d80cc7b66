using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Hornbeam.Redis;

/// <summary>
/// The background work of one service: loops and jobs started here run on the thread pool, see <see cref="Stopping"/>
/// when the service stops, and are awaited by <see cref="StopAsync"/>; a failure is logged instead of lost.
/// </summary>
internal sealed class BackgroundWork(ILogger logger)
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Cancelled once <see cref="StopAsync"/> is called.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Whether <see cref="StopAsync"/> was called.</summary>
    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>
    /// Runs <paramref name="work"/> in the background with <see cref="Stopping"/>; its failure is logged as
    /// <paramref name="what"/>.
    /// </summary>
    public void Start(string what, Func<CancellationToken, Task> work)
    {
        var token = _stopping.Token;
        Track(Task.Run(async () =>
        {
            try
            {
                await work(token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                logger.LogWarning("{What} failed: {Message}", what, e.Message);
            }
        }, CancellationToken.None));
    }

    /// <summary>Counts <paramref name="task"/>, already running, among the work <see cref="StopAsync"/> waits for.</summary>
    public void Track(Task task)
    {
        _running.TryAdd(task, 0);
        task.ContinueWith(t => _running.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>Cancels <see cref="Stopping"/> and waits, up to <paramref name="cancellationToken"/>, for all work to end.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_running.Keys).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
