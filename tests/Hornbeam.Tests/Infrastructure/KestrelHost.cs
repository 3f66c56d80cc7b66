using Hornbeam.PubSub;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// One Hornbeam host on real Kestrel (a free loopback port), for clients that need a real socket: a WebSocket client reading
/// close frames, TCP back-pressure from a client that does not read, a stream cut when its host stops.
/// </summary>
public sealed class KestrelHost : IAsyncDisposable
{
    private readonly HornbeamApiFactory _api;

    private KestrelHost(HornbeamApiFactory api, HttpClient client)
    {
        _api = api;
        Client = client;
    }

    public HttpClient Client { get; }

    /// <summary>The host's pub/sub, to publish from the test without an HTTP round trip per message.</summary>
    public IPubSub PubSub => _api.Services.GetRequiredService<IPubSub>();

    /// <summary>
    /// A host on <paramref name="redis"/> (the shared test Redis when null), under a prefix of its own, ready to serve;
    /// <paramref name="configure"/> adds services as a user's Program.cs would.
    /// </summary>
    public static async Task<KestrelHost> StartAsync(string? redis = null, IDictionary<string, string?>? settings = null,
        Action<HornbeamBuilder>? configure = null)
    {
        var api = new HornbeamApiFactory(redis ?? await RedisServer.ConnectionStringAsync(), TestPrefix.New(), settings,
            configure: configure);
        api.UseKestrel(0);
        api.StartServer();
        var client = api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the host is ready");
        return new KestrelHost(api, client);
    }

    /// <summary>The <c>ws://</c> address of <paramref name="pathAndQuery"/> on this host.</summary>
    public Uri WebSocketUri(string pathAndQuery) =>
        new(new UriBuilder(Client.BaseAddress!) { Scheme = "ws" }.Uri, pathAndQuery);

    /// <summary>Stops the host as a shutdown does (its hosted services' stopping, then the server's graceful stop).</summary>
    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _api.DisposeAsync();
    }
}
