using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Hornbeam.Webhooks;

/// <summary>
/// Calls user HTTP endpoints with a JSON body and reads a JSON answer, under one set of rules: only allow-listed hosts,
/// no redirects (they could lead off the list), a deadline (504 past it), and 502 for a failure, a non-2xx or non-JSON answer.
/// </summary>
public sealed class WebhookClient(IHttpClientFactory httpClients, IOptions<WebhookOptions> options)
{
    /// <summary>The name of the <see cref="HttpClient"/> this client uses.</summary>
    public const string HttpClientName = "hornbeam-webhooks";

    private static readonly JsonElement Null = JsonDocument.Parse("null").RootElement.Clone();
    private readonly WebhookOptions _options = options.Value;

    /// <summary>
    /// Parses <paramref name="url"/> and checks it against the allow-list: 400 when it is not an absolute http(s) URL,
    /// 403 when its host is not allowed or the list is empty.
    /// </summary>
    public Uri EnsureAllowed(string? url)
    {
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new HornbeamException(HornbeamError.InvalidInput, $"url must be an absolute http or https URL; it was '{url}'.");
        if (_options.AllowedHosts.Count == 0)
            throw new HornbeamException(HornbeamError.Forbidden,
                "HTTP endpoints are turned off: Hornbeam:Webhooks:AllowedHosts is empty. List the hosts that may be called to turn them on.");
        if (!IsAllowed(uri))
            throw new HornbeamException(HornbeamError.Forbidden,
                $"host '{uri.Host}' is not in Hornbeam:Webhooks:AllowedHosts ({string.Join(", ", _options.AllowedHosts)}).");
        return uri;
    }

    private bool IsAllowed(Uri uri)
    {
        var host = uri.IdnHost.Trim('[', ']');
        var address = IPAddress.TryParse(host, out var a) ? a : null;
        foreach (var allowed in _options.AllowedHosts)
        {
            var entry = allowed.Trim().Trim('[', ']');
            if (string.Equals(entry, host, StringComparison.OrdinalIgnoreCase)) return true;
            if (address is not null && IPAddress.TryParse(entry, out var e) && e.Equals(address)) return true;
        }
        return false;
    }

    /// <summary>
    /// POSTs <paramref name="json"/> to <paramref name="url"/> and answers the JSON it returns (null for an empty body).
    /// <paramref name="what"/> names the caller's thing in messages, e.g. <c>HTTP function 'resize'</c>.
    /// </summary>
    public async Task<JsonElement> PostJsonAsync(string url, ReadOnlyMemory<byte> json, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        var uri = EnsureAllowed(url);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var client = httpClients.CreateClient(HttpClientName);
        try
        {
            using var content = new ReadOnlyMemoryContent(json);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            using var response = await client.PostAsync(uri, content, deadline.Token);
            var body = await ReadLimitedAsync(response.Content, deadline.Token);
            if (!response.IsSuccessStatusCode)
                throw new HornbeamException(HornbeamError.BadGateway,
                    $"{what} at {uri} answered {(int)response.StatusCode} {response.ReasonPhrase}: {Snippet(body)}");
            if (body.Length == 0) return Null;
            try
            {
                using var doc = JsonDocument.Parse(body);
                return doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new HornbeamException(HornbeamError.BadGateway, $"{what} at {uri} answered with something that is not JSON: {Snippet(body)}");
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new HornbeamException(HornbeamError.Timeout, $"{what} at {uri} did not answer within {timeout.TotalMilliseconds:0} ms.");
        }
        catch (HttpRequestException e)
        {
            throw new HornbeamException(HornbeamError.BadGateway, $"{what} at {uri} could not be reached: {e.Message}", e);
        }
    }

    /// <summary>Reads an answer's body, refusing it (502) once it passes <c>Hornbeam:Webhooks:MaxResponseBytes</c>.</summary>
    internal async Task<byte[]> ReadLimitedAsync(HttpContent content, CancellationToken ct)
    {
        if (content.Headers.ContentLength > _options.MaxResponseBytes) throw TooLarge();
        await using var stream = await content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > _options.MaxResponseBytes) throw TooLarge();
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>A streamed answer's body, each line, event or whole answer held to <c>Hornbeam:Webhooks:MaxResponseBytes</c> (502 past it).</summary>
    internal async Task<Stream> ReadStreamLimitedAsync(HttpContent content, ChunkBoundary boundary, CancellationToken ct) =>
        new ChunkLimitedStream(await content.ReadAsStreamAsync(ct), boundary, _options.MaxResponseBytes, TooLarge);

    private HornbeamException TooLarge() =>
        new(HornbeamError.BadGateway, $"the endpoint answered more than {_options.MaxResponseBytes} bytes (Hornbeam:Webhooks:MaxResponseBytes).");

    private static string Snippet(byte[] body)
    {
        var text = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200));
        return text.Length == 0 ? "(empty body)" : text;
    }
}
