using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Owns the one shared <see cref="ConnectionMultiplexer"/>. It connects when the host starts, without failing when
/// Redis is down: commands then fail fast (no backlog) and the multiplexer reconnects by itself when Redis returns.
/// </summary>
public sealed class RedisConnection(string configuration, RedisOptions redisOptions, ILogger<RedisConnection> logger) : IHostedService, IAsyncDisposable
{
    private ConnectionMultiplexer? _multiplexer;
    private SentinelFence? _fence;

    /// <summary>The shared multiplexer; available once the host has started.</summary>
    public IConnectionMultiplexer Multiplexer =>
        _multiplexer ?? throw new InvalidOperationException("Redis is not connected yet: the host has not started Hornbeam's RedisConnection.");

    /// <summary>The StackExchange.Redis options Hornbeam uses for a connection string, with the default deadline.</summary>
    public static ConfigurationOptions Options(string configuration) => Options(configuration, new RedisOptions());

    /// <summary>
    /// The StackExchange.Redis options Hornbeam uses for a connection string (a single server, Sentinel endpoints with
    /// <c>serviceName=</c>, or cluster nodes). A command not answered within <see cref="RedisOptions.DeadlineMs"/>
    /// fails; timeouts given in the connection string win.
    /// </summary>
    public static ConfigurationOptions Options(string configuration, RedisOptions redis)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        // A request while Redis is unreachable should get a 503 now, not after queueing for the timeout.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        // StackExchange.Redis looks for overdue commands once per heartbeat, so a command can fail up to one heartbeat
        // after its timeout: the two together stay within the deadline.
        var heartbeat = Math.Max(50, redis.DeadlineMs / 4);
        var timeout = redis.DeadlineMs - heartbeat;
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(heartbeat);
        if (!configuration.Contains("connectTimeout", StringComparison.OrdinalIgnoreCase)) options.ConnectTimeout = Math.Min(2000, redis.DeadlineMs);
        if (!configuration.Contains("syncTimeout", StringComparison.OrdinalIgnoreCase)) options.SyncTimeout = timeout;
        if (!configuration.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase)) options.AsyncTimeout = timeout;
        options.ReconnectRetryPolicy = new ExponentialRetry(250, 2000);
        return options;
    }

    /// <summary>
    /// With Sentinel (<c>serviceName=</c>) and <see cref="RedisOptions.WaitReplicas"/> above 0: null when a write that
    /// went to this server may be acknowledged, else why not (Sentinel names another master). Always null otherwise.
    /// </summary>
    internal string? Refuses(System.Net.EndPoint server) => _fence?.Refuses(server);

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_multiplexer is not null) return;
        var options = Options(configuration, redisOptions);
        if (!string.IsNullOrEmpty(options.ServiceName)) KeepWorkersForSentinelFailover();
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
        // Its own small connection to the Sentinels: StackExchange.Redis keeps its view of them to itself.
        if (!string.IsNullOrEmpty(options.ServiceName) && redisOptions.WaitReplicas > 0)
            _fence = await SentinelFence.StartAsync(options, TimeSpan.FromMilliseconds(Math.Max(100, redisOptions.DeadlineMs / 4)), logger);
        if (!_multiplexer.IsConnected)
            logger.LogWarning("Redis at {Endpoints} is not reachable yet; requests get 503 until it is, and Hornbeam keeps retrying.",
                string.Join(", ", _multiplexer.GetEndPoints().Select(e => e.ToString())));
    }

    /// <summary>
    /// StackExchange.Redis switches to a new Sentinel master by blocking thread-pool threads on its own reconfiguration.
    /// With a pool kept near one worker per core, that starved every request for seconds during a failover (answers past
    /// the deadline); a few more workers on call keep requests moving while those threads wait.
    /// </summary>
    private void KeepWorkersForSentinelFailover()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = Environment.ProcessorCount + 8;
        if (workers >= wanted) return;
        ThreadPool.SetMinThreads(wanted, io);
        logger.LogInformation("Sentinel: the thread pool keeps at least {Workers} workers, so a failover does not starve requests.", wanted);
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_fence is not null) await _fence.DisposeAsync();
        if (_multiplexer is not null) await _multiplexer.DisposeAsync();
    }
}
