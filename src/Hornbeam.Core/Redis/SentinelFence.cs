using System.Net;
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
internal sealed class SentinelFence : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _sentinels;
    private readonly string _service;
    private readonly ILogger _logger;
    private readonly PeriodicTimer _timer;
    private readonly Task _refreshing;
    private readonly CancellationTokenSource _stop = new();
    private volatile string? _primary;

    private SentinelFence(ConnectionMultiplexer sentinels, string service, TimeSpan interval, ILogger logger)
    {
        _sentinels = sentinels;
        _service = service;
        _logger = logger;
        _timer = new PeriodicTimer(interval);
        sentinels.GetSubscriber().Subscribe(RedisChannel.Literal("+switch-master"), (_, _) => _ = RefreshAsync());
        _refreshing = RefreshEveryIntervalAsync();
    }

    /// <summary>Connects to the Sentinels of <paramref name="options"/> (its endpoints, with <c>serviceName</c> set).</summary>
    public static async Task<SentinelFence> StartAsync(ConfigurationOptions options, TimeSpan interval, ILogger logger)
    {
        var config = options.Clone();
        config.User = options.SentinelUser;
        config.Password = options.SentinelPassword;
        var fence = new SentinelFence(await ConnectionMultiplexer.SentinelConnectAsync(config), options.ServiceName!, interval, logger);
        await fence.RefreshAsync();
        return fence;
    }

    /// <summary>Null when <paramref name="server"/> is the master a majority of Sentinels name now; else why it is not.</summary>
    public string? Refuses(EndPoint server)
    {
        var primary = _primary;
        var name = Name(server);
        return primary == name ? null
            : primary is null ? $"no majority of Sentinels names a master for '{_service}' right now"
            : $"the write went to {name}, but the Sentinels name {primary} master";
    }

    private async Task RefreshEveryIntervalAsync()
    {
        try
        {
            while (await _timer.WaitForNextTickAsync(_stop.Token)) await RefreshAsync();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RefreshAsync()
    {
        var servers = _sentinels.GetServers();
        var answers = await Task.WhenAll(servers.Select(async s =>
        {
            try
            {
                return await s.SentinelGetMasterAddressByNameAsync(_service) is { } endpoint ? Name(endpoint) : null;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                return null;
            }
        }));
        var majority = answers.Where(a => a is not null).GroupBy(a => a).FirstOrDefault(g => g.Count() * 2 > servers.Length)?.Key;
        if (majority != _primary) _logger.LogInformation("Sentinels name {Primary} master of {Service}.", majority ?? "no server", _service);
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
        _timer.Dispose();
        await _refreshing;
        await _sentinels.DisposeAsync();
    }
}
