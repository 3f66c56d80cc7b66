using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Hornbeam.Webhooks;

/// <summary>
/// The one outbound HTTP client: calls user HTTP endpoints (HTTP functions, HTTP hooks) with a JSON body, under one set
/// of rules: only allow-listed hosts and ports, connected to at an address the list allows, no redirects (they could
/// lead off the list), each call's timeout (504 past it), a circuit breaker per host, no retries, and 502 for a failure,
/// an open circuit, a non-2xx or non-JSON answer.
/// </summary>
public sealed class WebhookClient(IHttpClientFactory httpClients, IOptions<WebhookOptions> options)
{
    /// <summary>The name of the <see cref="HttpClient"/> this client uses.</summary>
    public const string HttpClientName = "hornbeam-webhooks";

    internal static readonly HttpRequestOptionsKey<TimeSpan> CallTimeout = new("hornbeam.webhooks.timeout");
    internal static readonly HttpRequestOptionsKey<bool> ReadWholeBody = new("hornbeam.webhooks.whole-body");

    private static readonly JsonElement Null = JsonDocument.Parse("null").RootElement.Clone();
    private readonly WebhookOptions _options = options.Value;
    private readonly WebhookAllowList _allowList = new(options.Value.AllowedHosts);

    /// <summary>
    /// The one rule for a webhook URL, applied to HTTP functions and HTTP hooks alike when they are registered and at each
    /// call: 400 unless it is an absolute http or https URL without credentials (<c>user:password@</c>) or fragment; 403
    /// unless <c>Hornbeam:Webhooks:AllowedHosts</c> allows its scheme, host and port (or the list is empty). A host name
    /// that only address entries could allow passes here: the address it resolves to is checked when it is connected to.
    /// </summary>
    public Uri EnsureAllowed(string? url)
    {
        var uri = Parse(url);
        if (_allowList.IsEmpty)
            throw new HornbeamException(HornbeamError.Forbidden,
                "HTTP endpoints are turned off: Hornbeam:Webhooks:AllowedHosts is empty. "
                + "List the hosts (with ports) that may be called to turn them on.");
        if (_allowList.Check(uri) == WebhookAllowList.Verdict.Refused)
            throw new HornbeamException(HornbeamError.Forbidden,
                $"{uri.Scheme}://{uri.Host}:{uri.Port} is not allowed by Hornbeam:Webhooks:AllowedHosts "
                + $"({string.Join(", ", _allowList.Texts)}): an entry names a host and its port (e.g. {uri.Host}:{uri.Port}); "
                + "one without a port allows only 80 for http, 443 for https.");
        return uri;
    }

    /// <summary>
    /// <see cref="EnsureAllowed"/> for a registration: a host name that only address or CIDR entries could allow is also
    /// resolved now, and refused (403) unless it resolves to an allowed address, so a wrong URL is refused when it is stored
    /// rather than at each call. Each call still checks the address it connects to.
    /// </summary>
    public async Task<Uri> EnsureAllowedAsync(string? url, CancellationToken cancellationToken = default)
    {
        var uri = EnsureAllowed(url);
        if (_allowList.Check(uri) != WebhookAllowList.Verdict.ByAddress) return uri;
        try
        {
            await _allowList.AllowedAddressesAsync(uri, uri.IdnHost, cancellationToken);
        }
        catch (SocketException e)
        {
            throw new HornbeamException(HornbeamError.Forbidden,
                $"host '{uri.Host}' could not be resolved ({e.Message}), so it cannot be checked against Hornbeam:Webhooks:AllowedHosts.");
        }
        return uri;
    }

    private static Uri Parse(string? url)
    {
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || uri.Host.Length == 0)
            throw new HornbeamException(HornbeamError.InvalidInput, $"url must be an absolute http or https URL; it was '{url}'.");
        // Credentials in a URL would be stored in Redis and listed by GET, so they are refused, and not echoed back.
        if (uri.UserInfo.Length > 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                "url must not carry credentials (user:password@host); let the endpoint trust the network, or put a token in its path.");
        if (uri.Fragment.Length > 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"url must not have a fragment (#…), which is never sent; it was '{url}'.");
        return uri;
    }

    /// <summary>
    /// POSTs <paramref name="json"/> to <paramref name="url"/> and answers the JSON it returns (null for an empty body).
    /// <paramref name="what"/> names the caller's thing in messages, e.g. <c>HTTP function 'resize'</c>.
    /// </summary>
    public async Task<JsonElement> PostJsonAsync(string url, ReadOnlyMemory<byte> json, TimeSpan timeout, string what,
        CancellationToken cancellationToken = default)
    {
        var uri = EnsureAllowed(url);
        var content = new ReadOnlyMemoryContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var response = await PostAsync(uri, content, timeout, wholeBody: true, what, cancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
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
            throw new HornbeamException(HornbeamError.BadGateway,
                $"{what} at {uri} answered with something that is not JSON: {Snippet(body)}");
        }
    }

    /// <summary>
    /// POSTs <paramref name="content"/> through the webhook pipeline and answers the response, whatever its status.
    /// With <paramref name="wholeBody"/> the body is read (under the timeout and <c>MaxResponseBytes</c>) before this
    /// answers; without, once the headers are in, for a stream. No answer within <paramref name="timeout"/> throws
    /// Timeout (504); an unreachable host, an open circuit or too large a body throws BadGateway (502).
    /// </summary>
    internal async Task<HttpResponseMessage> PostAsync(Uri uri, HttpContent content, TimeSpan timeout, bool wholeBody, string what,
        CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        request.Options.Set(CallTimeout, timeout);
        request.Options.Set(ReadWholeBody, wholeBody);
        try
        {
            return await httpClients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (Exception e) when (Translate(e, uri, timeout, what) is { } translated)
        {
            request.Dispose();
            throw translated;
        }
    }

    private HornbeamException? Translate(Exception e, Uri uri, TimeSpan timeout, string what) => e switch
    {
        // Refused at connect: the host resolved to an address the allow-list does not name; nothing was sent.
        HttpRequestException { InnerException: HornbeamException { Error: HornbeamError.Forbidden } refused } =>
            new(HornbeamError.Forbidden, $"{what} at {uri} was not called: {refused.Message}", e),
        TimeoutRejectedException =>
            new(HornbeamError.Timeout, $"{what} at {uri} did not answer within {timeout.TotalMilliseconds:0} ms.", e),
        // An open circuit answers as an unreachable host does, saying why no call was made.
        BrokenCircuitException => new(HornbeamError.BadGateway,
            $"{what} at {uri} could not be reached: calls to {uri.Authority} failed repeatedly, so they are refused for "
            + $"{_options.CircuitBreakDuration.TotalSeconds:0.#} s before one is tried again "
            + "(circuit open; Hornbeam:Webhooks:Circuit* settings).", e),
        HttpRequestException => new(HornbeamError.BadGateway, $"{what} at {uri} could not be reached: {e.Message}", e),
        HornbeamException { Error: HornbeamError.BadGateway } => new(HornbeamError.BadGateway, $"{what} at {uri}: {e.Message}", e),
        _ => null,
    };

    /// <summary>The timeout a call set on its request, for the pipeline's timeout strategy; none when it set none.</summary>
    internal static TimeSpan TimeoutOf(ResilienceContext context) =>
        context.GetRequestMessage()?.Options.TryGetValue(CallTimeout, out var timeout) == true ? timeout : Timeout.InfiniteTimeSpan;

    /// <summary>
    /// A streamed answer's body, each line, event or whole answer held to <c>Hornbeam:Webhooks:MaxResponseBytes</c> (502 past it).
    /// </summary>
    internal async Task<Stream> ReadStreamLimitedAsync(HttpContent content, ChunkBoundary boundary, CancellationToken ct) =>
        new ChunkLimitedStream(await content.ReadAsStreamAsync(ct), boundary, _options.MaxResponseBytes,
            () => TooLarge(_options.MaxResponseBytes));

    internal static HornbeamException TooLarge(int maxBytes) =>
        new(HornbeamError.BadGateway, $"the endpoint answered more than {maxBytes} bytes (Hornbeam:Webhooks:MaxResponseBytes).");

    private static string Snippet(byte[] body)
    {
        var text = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200));
        return text.Length == 0 ? "(empty body)" : text;
    }
}
