using System.Net;
using System.Net.Sockets;
using Hornbeam.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Hornbeam.Tests.Webhooks;

/// <summary>
/// The webhook allow-list: which scheme, host and port each entry form allows, and the connect step, which checks the
/// address a name resolves to and connects to that address, so a name cannot lead to an address the list does not name.
/// </summary>
public sealed class WebhookAllowListTests
{
    [Theory]
    [InlineData("hooks.internal:8080", "http://hooks.internal:8080/x", "Allowed")]
    [InlineData("hooks.internal:8080", "https://HOOKS.internal.:8080/x", "Allowed")]
    [InlineData("hooks.internal:8080", "http://hooks.internal:8081/x", "Refused")]
    [InlineData("hooks.internal:8080", "http://hooks.internal/x", "Refused")]
    [InlineData("hooks.internal", "http://hooks.internal/x", "Allowed")]
    [InlineData("hooks.internal", "https://hooks.internal/x", "Allowed")]
    [InlineData("hooks.internal", "http://hooks.internal:443/x", "Refused")]
    [InlineData("127.0.0.1", "http://127.0.0.1/", "Allowed")]
    [InlineData("127.0.0.1", "http://127.0.0.1:6379/", "Refused")]
    [InlineData("https://hooks.internal:8443", "https://hooks.internal:8443/x", "Allowed")]
    [InlineData("https://hooks.internal:8443", "http://hooks.internal:8443/x", "Refused")]
    [InlineData("http://hooks.internal", "http://hooks.internal:80/x", "Allowed")]
    [InlineData("http://hooks.internal", "https://hooks.internal/x", "Refused")]
    [InlineData("10.0.0.0/8:8080", "http://10.1.2.3:8080/x", "Allowed")]
    [InlineData("10.0.0.0/8:8080", "http://11.1.2.3:8080/x", "Refused")]
    [InlineData("10.0.0.0/8:8080", "http://hooks.internal:8080/x", "ByAddress")]
    [InlineData("10.0.0.0/8:8080", "http://hooks.internal:8081/x", "Refused")]
    [InlineData("127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080/x", "Allowed")]
    [InlineData("[::1]:8080", "http://[::1]:8080/x", "Allowed")]
    [InlineData("::1", "http://[::1]/x", "Allowed")]
    [InlineData("[fd00::/8]:8080", "http://[fd12::1]:8080/x", "Allowed")]
    [InlineData("localhost:8080", "http://127.0.0.1:8080/x", "Refused")]
    public void AnEntryAllowsItsHostOnItsPortOnly(string entry, string url, string verdict) =>
        Assert.Equal(verdict, new WebhookAllowList([entry]).Check(new Uri(url)).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("*")]
    [InlineData("*.internal:80")]
    [InlineData("hooks.internal:0")]
    [InlineData("hooks.internal:65536")]
    [InlineData("hooks.internal:http")]
    [InlineData("hooks.internal/path")]
    [InlineData("user@hooks.internal:80")]
    [InlineData("http://hooks.internal:80/path")]
    [InlineData("ftp://hooks.internal:21")]
    [InlineData("10.0.0.1/8:80")]
    public void AnEntryOfNoDocumentedFormIsRefused(string entry) => Assert.False(WebhookAllowList.TryParse(entry, out _, out _));

    [Fact]
    public async Task ANameThatResolvesToAnAddressTheListDoesNotNameIsRefusedAtConnectAndAnAllowedOneIsConnectedTo()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var uri = new Uri($"http://localhost:{port}/x");

        // By address only: localhost (127.0.0.1, ::1) is not 127.0.0.2, so no connection is made.
        var elsewhere = new WebhookAllowList([$"127.0.0.2:{port}"]);
        Assert.Equal(WebhookAllowList.Verdict.ByAddress, elsewhere.Check(uri));
        var endpoint = new DnsEndPoint("localhost", port);
        var refused = await Assert.ThrowsAsync<HornbeamException>(() => elsewhere.ConnectAsync(uri, endpoint, default).AsTask());
        Assert.Equal(HornbeamError.Forbidden, refused.Error);
        Assert.Contains("127.0.0.1", refused.Message);
        Assert.False(listener.Pending());

        // 127.0.0.1 is allowed and ::1 is not: the connection goes to the address that was checked.
        await using var stream = (NetworkStream)await new WebhookAllowList([$"127.0.0.1:{port}"]).ConnectAsync(uri, endpoint, default);
        var remote = ((IPEndPoint)stream.Socket.RemoteEndPoint!).Address;
        Assert.Equal(IPAddress.Loopback, remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);
        using var accepted = await listener.AcceptSocketAsync();
    }

    [Fact]
    public async Task TheSharedWebhookClientChecksTheAddressItConnectsToAndSendsNothingElsewhere()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var provider = WebhookServices($"127.0.0.2:{port}");
        var client = provider.GetRequiredService<WebhookClient>();

        // The name passes the URL check (an address entry could allow it); the address it resolves to does not.
        var refused = await Assert.ThrowsAsync<HornbeamException>(() =>
            client.PostJsonAsync($"http://localhost:{port}/x", "{}"u8.ToArray(), TimeSpan.FromSeconds(10), "test endpoint"));
        Assert.Equal(HornbeamError.Forbidden, refused.Error);
        Assert.Contains("was not called", refused.Message);
        Assert.False(listener.Pending());
    }

    [Fact]
    public async Task AnAllowedNameThatDoesNotResolveIsAnUnreachableHostNotARefusal()
    {
        await using var provider = WebhookServices("hornbeam-test.invalid");
        var client = provider.GetRequiredService<WebhookClient>();
        var failed = await Assert.ThrowsAsync<HornbeamException>(() =>
            client.PostJsonAsync("http://hornbeam-test.invalid/x", "{}"u8.ToArray(), TimeSpan.FromSeconds(10), "test"));
        Assert.Equal(HornbeamError.BadGateway, failed.Error);
    }

    [Theory]
    [InlineData("http://xn--/x")]
    [InlineData("http://xn--zz-.com/x")]
    [InlineData("http://a..b/x")]
    [InlineData("http://%41/x")]
    [InlineData("http://[::1%25eth0]:8080/x")]
    [InlineData("http://\u0130.com:8080/x")]
    [InlineData("http://a\u200b.com:8080/x")]
    [InlineData("http://hooks.internal:99999/x")]
    [InlineData("http://:8080/x")]
    [InlineData("http://user@/x")]
    public async Task AStrangeUrlIsRefusedWith400Or403(string url)
    {
        await using var provider = WebhookServices("hooks.internal:8080");
        var refused = Assert.Throws<HornbeamException>(() => provider.GetRequiredService<WebhookClient>().EnsureAllowed(url));
        Assert.Contains(refused.Error, new[] { HornbeamError.InvalidInput, HornbeamError.Forbidden });
    }

    private static ServiceProvider WebhookServices(string allowed)
    {
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Hornbeam:Webhooks:AllowedHosts:0"] = allowed }).Build());
        services.AddHornbeamWebhooks();
        return services.BuildServiceProvider();
    }
}
