namespace Hornbeam.Redis;

/// <summary>A subscription of <see cref="RedisChannels"/> to wait on: each message wakes one wait. Dispose it to leave.</summary>
internal sealed class ChannelWaiter : IDisposable
{
    // Not disposed with the waiter: a message already being delivered may still signal it.
    private readonly SemaphoreSlim _signal = new(0);

    internal ChannelListener? Listener { get; set; }

    internal void Signal() => _signal.Release();

    /// <summary>
    /// Waits for a message on the channel (or one that came since the last wait); false when <paramref name="timeout"/>
    /// passed first.
    /// </summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);

    /// <inheritdoc />
    public void Dispose() => Listener?.Dispose();
}
