using System.Net;
using System.Net.Sockets;
using System.Text;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Contract;

/// <summary>
/// HEAD is answered as GET without a body (issue 20, D9), on real Kestrel, which is what drops the body; streaming
/// routes answer 405 instead of holding the connection.
/// </summary>
public sealed class HeadRequestTests(BadInputHost host) : IClassFixture<BadInputHost>
{
    private HttpClient Client => host.Client;
    private static string Key() => $"head:{Guid.NewGuid():N}";

    [Fact]
    public async Task HeadOnAStoredKeyAnswersTheGetsStatusAndLengthWithoutABody()
    {
        var key = Key();
        (await Client.PutAsync($"/state/{key}", Http.Json("{\"a\":[1,2,3]}"))).EnsureSuccessStatusCode();
        var get = await Client.GetAsync($"/state/{key}");
        var length = (await get.Content.ReadAsByteArrayAsync()).Length;

        var (status, headers, body) = await RawAsync("HEAD", $"/state/{key}");

        Assert.Equal(200, status);
        Assert.Contains($"Content-Length: {length}", headers, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Content-Type: application/json", headers, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("", body);
    }

    [Fact]
    public async Task HeadOnAMissingKeyAnswers404()
    {
        var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/state/{Key()}"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task HeadOnOtherGetRoutesIsAnswered()
    {
        foreach (var path in new[] { "/health/live", "/state?limit=1", "/pubsub", "/metrics", "/openapi/v1.json" })
        {
            var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"HEAD {path}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task HeadOnStreamingRoutesAnswers405AtOnceAndTheConnectionServesTheNextRequest()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        foreach (var path in new[] { $"/pubsub/{Key()}", $"/ws/{Key()}" })
        {
            var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path), timeout.Token);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Contains("GET", response.Content.Headers.Allow);
        }
        // The same keep-alive connection is free again.
        Assert.True((await Client.GetAsync("/health/live", timeout.Token)).IsSuccessStatusCode);
    }

    /// <summary>A request as bytes on a socket, so what Kestrel sends after the headers is seen as it is.</summary>
    private async Task<(int Status, string Headers, string Body)> RawAsync(string method, string target)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.Address.Host, host.Address.Port);
        await using var stream = tcp.GetStream();
        var head = $"{method} {target} HTTP/1.1\r\nHost: {host.Address.Authority}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (status, text[..split], text[(split + 4)..]);
    }
}
