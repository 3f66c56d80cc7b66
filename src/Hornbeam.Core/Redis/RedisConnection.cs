using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// How Hornbeam connects its one shared <see cref="ConnectionMultiplexer"/>, which <c>AddHornbeam</c> registers as the
/// <see cref="IConnectionMultiplexer"/> singleton. It connects without failing when Redis is down: commands then fail fast
/// (no backlog) and the multiplexer reconnects by itself when Redis returns.
/// </summary>
public static class RedisConnection
{
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
        if (!configuration.Contains("connectTimeout", StringComparison.OrdinalIgnoreCase))
            options.ConnectTimeout = Math.Min(2000, redis.DeadlineMs);
        if (!configuration.Contains("syncTimeout", StringComparison.OrdinalIgnoreCase)) options.SyncTimeout = timeout;
        if (!configuration.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase)) options.AsyncTimeout = timeout;
        options.ReconnectRetryPolicy = new ExponentialRetry(250, 2000);
        return options;
    }

    /// <summary>
    /// Connects the shared multiplexer. Synchronous, as the DI factory that calls it is: with
    /// <see cref="ConfigurationOptions.AbortOnConnectFail"/> off it returns within the connect timeout, connected or not.
    /// </summary>
    internal static ConnectionMultiplexer Connect(ConfigurationOptions options, ILogger logger)
    {
        if (!string.IsNullOrEmpty(options.ServiceName)) KeepWorkersForSentinelFailover(logger);
        var multiplexer = ConnectionMultiplexer.Connect(options);
        if (!multiplexer.IsConnected)
            logger.LogWarning("Redis at {Endpoints} is not reachable yet; requests get 503 until it is, and Hornbeam keeps retrying.",
                string.Join(", ", multiplexer.GetEndPoints().Select(e => e.ToString())));
        return multiplexer;
    }

    /// <summary>
    /// StackExchange.Redis switches to a new Sentinel master by blocking thread-pool threads on its own reconfiguration.
    /// With a pool kept near one worker per core, that starved every request for seconds during a failover (answers past
    /// the deadline); a few more workers on call keep requests moving while those threads wait.
    /// </summary>
    private static void KeepWorkersForSentinelFailover(ILogger logger)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = Environment.ProcessorCount + 8;
        if (workers >= wanted) return;
        ThreadPool.SetMinThreads(wanted, io);
        logger.LogInformation("Sentinel: the thread pool keeps at least {Workers} workers, so a failover does not starve requests.",
            wanted);
    }
}
