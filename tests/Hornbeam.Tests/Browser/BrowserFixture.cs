using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Browser;

/// <summary>
/// What a browser test class shares: an API host on a real port with access control on, a page on an origin the API
/// allows (<see cref="Allowed"/>) and one on an origin it does not (<see cref="Other"/>).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Every scope: a page that is refused is refused for its origin, not its key.</summary>
    public const string Key = "browser-secret";

    /// <summary>A key that may only read state, for 403s.</summary>
    public const string ReaderKey = "reader-secret";

    private HornbeamApiFactory? _api;

    public OriginServer Allowed { get; private set; } = null!;

    public OriginServer Other { get; private set; } = null!;

    /// <summary>The API's base address, as a page calls it.</summary>
    public Uri Api => Client.BaseAddress!;

    /// <summary>A plain HTTP client of the API, without a key, for what a test checks outside the browser.</summary>
    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Allowed = await OriginServer.StartAsync();
        Other = await OriginServer.StartAsync();
        _api = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), TestPrefix.New(), new Dictionary<string, string?>
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
            ["Hornbeam:Cors:AllowedOrigins:0"] = Allowed.Origin,
        });
        _api.UseKestrel(0);
        _api.StartServer();
        Client = _api.CreateClient();
        await Poll.UntilAsync(async () => (await Client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the host is ready");
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_api is not null) await _api.DisposeAsync();
        if (Allowed is not null) await Allowed.DisposeAsync();
        if (Other is not null) await Other.DisposeAsync();
    }
}
