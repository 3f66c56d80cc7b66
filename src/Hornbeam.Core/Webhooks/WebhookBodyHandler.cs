using Microsoft.Extensions.Options;

namespace Hornbeam.Webhooks;

/// <summary>
/// Reads a single (not streamed) answer's whole body inside the webhook client's resilience pipeline, so the call's
/// timeout covers the body too, and refuses it (502) once it passes <c>Hornbeam:Webhooks:MaxResponseBytes</c>.
/// </summary>
internal sealed class WebhookBodyHandler(IOptions<WebhookOptions> options) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (!request.Options.TryGetValue(WebhookClient.ReadWholeBody, out var whole) || !whole) return response;
        try
        {
            var body = new ByteArrayContent(await ReadLimitedAsync(response.Content, options.Value.MaxResponseBytes, cancellationToken));
            foreach (var header in response.Content.Headers) body.Headers.TryAddWithoutValidation(header.Key, header.Value);
            response.Content.Dispose();
            response.Content = body;
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, int maxBytes, CancellationToken ct)
    {
        if (content.Headers.ContentLength > maxBytes) throw WebhookClient.TooLarge(maxBytes);
        await using var stream = await content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > maxBytes) throw WebhookClient.TooLarge(maxBytes);
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }
}
