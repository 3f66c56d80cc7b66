using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.Redis;

/// <summary>
/// Which server a majority of the Sentinels name master. WAIT alone counts any replica still attached to the server it
/// asks, so an old master that comes back with its old configuration (and a replica Sentinel has not moved yet) would
/// confirm writes that are lost when Sentinel demotes it; with this view, a write confirmed by any other server answers
/// outcome-unknown instead. Kept current by Sentinel's <c>+switch-master</c> notice and by asking every Sentinel each
/// interval.
/// </summary>
/// <remarks>
/// Started with the host, when Redis is reached through Sentinel (<c>serviceName=</c>) and <see cref="RedisOptions.WaitReplicas"/>
/// is above 0; otherwise, and until it has started, it refuses nothing.
/// </remarks>
internal sealed class SentinelFence(ConfigurationOptions options, RedisOptions redis, ILogger<SentinelFence> logger)
    : IHostedService, IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private ConnectionMultiplexer? _sentinels;
    private PeriodicTimer? _timer;
    private Task _refreshing = Task.CompletedTask;
    private volatile bool _started;
    private volatile string? _primary;

    private string Service => options.ServiceName!;

    /// <summary>Connects to the Sentinels of the shared connection's options (their endpoints, with <c>serviceName</c> set).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(options.ServiceName) || redis.WaitReplicas <= 0 || _sentinels is not null) return;
        // Its own small connection to the Sentinels: StackExchange.Redis keeps its view of them to itself.
        var config = options.Clone();
        config.User = options.SentinelUser;
        config.Password = options.SentinelPassword;
        _sentinels = await ConnectionMultiplexer.SentinelConnectAsync(config);
        _timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(100, redis.DeadlineMs / 4)));
        _sentinels.GetSubscriber().Subscribe(RedisChannel.Literal("+switch-master"), (_, _) => _ = RefreshAsync());
        _refreshing = RefreshEveryIntervalAsync(_timer);
        await RefreshAsync();
        _started = true;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Null when <paramref name="server"/> is the master a majority of Sentinels name now; else why it is not.</summary>
    public string? Refuses(EndPoint server)
    {
        if (!_started) return null;
        var primary = _primary;
        var name = Name(server);
        return primary == name ? null
            : primary is null ? $"no majority of Sentinels names a master for '{Service}' right now"
            : $"the write went to {name}, but the Sentinels name {primary} master";
    }

    private async Task RefreshEveryIntervalAsync(PeriodicTimer timer)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token)) await RefreshAsync();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RefreshAsync()
    {
        var servers = _sentinels!.GetServers();
        var answers = await Task.WhenAll(servers.Select(async s =>
        {
            try
            {
                return await s.SentinelGetMasterAddressByNameAsync(Service) is { } endpoint ? Name(endpoint) : null;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                return null;
            }
        }));
        var majority = answers.Where(a => a is not null).GroupBy(a => a).FirstOrDefault(g => g.Count() * 2 > servers.Length)?.Key;
        if (majority != _primary) logger.LogInformation("Sentinels name {Primary} master of {Service}.", majority ?? "no server", Service);
        _primary = majority;
    }

    private static string Name(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endpoint.ToString() ?? "",
    };

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _timer?.Dispose();
        await _refreshing;
        if (_sentinels is not null) await _sentinels.DisposeAsync();
    }
}
