using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Health;

/// <summary>With access control on, the probes need no key, and only an admin key sees what each check found.</summary>
[Trait("Redis", "Cluster")]
public sealed class HealthAccessTests(HealthAccessTests.Host host) : IClassFixture<HealthAccessTests.Host>
{
    [Theory]
    [InlineData(null)]
    [InlineData("read-secret")]
    [InlineData("not-a-key")]
    public async Task CallersWithoutAnAdminKeySeeTheStatusAlone(string? key)
    {
        foreach (var (path, status) in new[] { ("/health/ready", "ready"), ("/health/live", "live") })
        {
            var response = await host.Client(key).GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.ReadJsonAsync();
            Assert.Equal(status, body.GetProperty("status").GetString());
            Assert.Equal(["status"], body.EnumerateObject().Select(p => p.Name));
        }
    }

    [Fact]
    public async Task AnAdminKeySeesEveryReadinessCheck()
    {
        var response = await host.Client("admin-secret").GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var checks = (await response.ReadJsonAsync()).GetProperty("checks");
        Assert.Equal(["presence", "redis"], checks.EnumerateObject().Select(p => p.Name).Order());
        // On a single Redis one probe key; on a Redis Cluster one per master that owns slots.
        Assert.StartsWith("read and write ", checks.GetProperty("redis").GetString());
        if (RedisServer.IsClusterMode) Assert.Contains(" on 3 masters ", checks.GetProperty("redis").GetString());
        Assert.StartsWith("current", checks.GetProperty("presence").GetString());
    }

    /// <summary>One host on the shared test Redis with access control on: an admin key and a reader key.</summary>
    public sealed class Host : IAsyncLifetime
    {
        private HornbeamApiFactory _api = null!;

        public async Task InitializeAsync() => _api = await HornbeamApiFactory.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Hornbeam:Auth:Enabled"] = "true",
            ["Hornbeam:Auth:Keys:0:Name"] = "operator",
            ["Hornbeam:Auth:Keys:0:Key"] = "admin-secret",
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "admin",
            ["Hornbeam:Auth:Keys:1:Name"] = "reader",
            ["Hornbeam:Auth:Keys:1:Key"] = "read-secret",
            ["Hornbeam:Auth:Keys:1:Scopes:0"] = "state:read",
        });

        public HttpClient Client(string? key)
        {
            var client = _api.CreateClient();
            if (key is not null) client.DefaultRequestHeaders.Add("X-Api-Key", key);
            return client;
        }

        public async Task DisposeAsync() => await _api.DisposeAsync();
    }
}
