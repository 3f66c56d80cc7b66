using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Browser;

/// <summary>
/// What a browser test class shares: a page on an origin the API allows (<see cref="Allowed"/>), one on an origin it
/// does not (<see cref="Other"/>), and two API hosts on real ports that allow the first: <see cref="Keyed"/> with access
/// control on, and <see cref="Open"/> with it off, for what a page cannot send a key with (an EventSource sets no header).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>A key of <see cref="Keyed"/> with every scope: a page that is refused is refused for its origin, not its key.</summary>
    public const string Key = "browser-secret";

    /// <summary>A key of <see cref="Keyed"/> that may only read state, for 403s.</summary>
    public const string ReaderKey = "reader-secret";

    /// <summary>A key of <see cref="Keyed"/> that may make one request a second, for 429s.</summary>
    public const string SlowKey = "slow-secret";

    private readonly List<HornbeamApiFactory> _hosts = [];

    public OriginServer Allowed { get; private set; } = null!;

    public OriginServer Other { get; private set; } = null!;

    /// <summary>The host with access control on; its client sends no key.</summary>
    public HttpClient Keyed { get; private set; } = null!;

    /// <summary>The host with access control off.</summary>
    public HttpClient Open { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Allowed = await OriginServer.StartAsync();
        Other = await OriginServer.StartAsync();
        Keyed = await StartAsync(new Dictionary<string, string?>
        {
            ["Hornbeam:Auth:Enabled"] = "true",
            ["Hornbeam:Auth:Keys:0:Name"] = "browser",
            ["Hornbeam:Auth:Keys:0:Key"] = Key,
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
            ["Hornbeam:Auth:Keys:0:Scopes:1"] = "state:write",
            ["Hornbeam:Auth:Keys:0:Scopes:2"] = "pubsub",
            ["Hornbeam:Auth:Keys:1:Name"] = "reader",
            ["Hornbeam:Auth:Keys:1:Key"] = ReaderKey,
            ["Hornbeam:Auth:Keys:1:Scopes:0"] = "state:read",
            ["Hornbeam:Auth:Keys:2:Name"] = "slow",
            ["Hornbeam:Auth:Keys:2:Key"] = SlowKey,
            ["Hornbeam:Auth:Keys:2:Scopes:0"] = "state:read",
            ["Hornbeam:Auth:Keys:2:PermitsPerSecond"] = "1",
        });
        Open = await StartAsync([]);
    }

    private async Task<HttpClient> StartAsync(Dictionary<string, string?> settings)
    {
        settings["Hornbeam:Cors:AllowedOrigins:0"] = Allowed.Origin;
        var api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), settings);
        _hosts.Add(api);
        api.UseKestrel(0);
        api.StartServer();
        var client = api.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the host is ready");
        return client;
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts) await host.DisposeAsync();
        if (Allowed is not null) await Allowed.DisposeAsync();
        if (Other is not null) await Other.DisposeAsync();
    }
}
