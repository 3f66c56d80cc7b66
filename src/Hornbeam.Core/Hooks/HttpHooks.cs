using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Hornbeam.Redis;
using Hornbeam.Webhooks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Hooks;

/// <summary>An HTTP hook: executing action <c>a</c> POSTs <c>{"args", "kwargs"}</c> to <c>{Url}/a</c>.</summary>
public sealed record HttpHook(string AppPath, string Url);

/// <summary>HTTP hooks live in one Redis hash, so every replica sees a registration at once.</summary>
internal sealed class HttpHookStore(IConnectionMultiplexer redis, RedisKeys keys, WebhookClient webhooks)
{
    private IDatabase Db => redis.GetDatabase();

    public async Task RegisterAsync(string appPath, string url)
    {
        HookNames.Validate(appPath);
        // Action names are appended to the URL's path, so a query would end up before them.
        if (Uri.TryCreate(url, UriKind.Absolute, out var parsed) && parsed.Query.Length > 0)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"a hook's url must not have a query: executing action a POSTs to {{url}}/a, e.g. http://host:8080/hooks/embeddings/a.");
        var uri = await webhooks.EnsureAllowedAsync(url);
        await Db.HashSetAsync(keys.HttpHooks, appPath, JsonSerializer.Serialize(new StoredHook(uri.ToString().TrimEnd('/'))));
    }

    public async Task<bool> UnregisterAsync(string appPath)
    {
        HookNames.Validate(appPath);
        return await Db.HashDeleteAsync(keys.HttpHooks, appPath);
    }

    public async Task<HttpHook?> GetAsync(string appPath)
    {
        var json = await Db.HashGetAsync(keys.HttpHooks, appPath);
        return json.IsNull ? null : new HttpHook(appPath, JsonSerializer.Deserialize<StoredHook>(json.ToString())!.Url);
    }

    public async Task<IReadOnlyList<HttpHook>> ListAsync() =>
        (await Db.HashGetAllAsync(keys.HttpHooks))
        .Select(e => new HttpHook(e.Name.ToString(), JsonSerializer.Deserialize<StoredHook>(e.Value.ToString())!.Url))
        .OrderBy(h => h.AppPath, StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Where executing <paramref name="action"/> POSTs to, under the webhook URL rules again: the allow-list may have
    /// shrunk since the hook was registered.
    /// </summary>
    public Uri ActionUrl(HttpHook hook, string action) => webhooks.EnsureAllowed(hook.Url + "/" + Uri.EscapeDataString(action));

    private sealed record StoredHook(string Url);
}

/// <summary>
/// Calls HTTP hooks through the <see cref="WebhookClient"/> HTTP functions use (timeout <c>Hornbeam:Hooks:HttpTimeoutSeconds</c>,
/// circuit breaker, no retries); a failing or slow endpoint becomes a 502 or 504 that says which hook and what happened.
/// </summary>
internal sealed class HttpHookClient(HttpHookStore store, WebhookClient webhooks, IOptions<HookOptions> options)
{
    public async Task<JsonElement> ExecuteAsync(HttpHook hook, string action, HookArgs args, CancellationToken ct)
    {
        // The body is read within the timeout and under Hornbeam:Webhooks:MaxResponseBytes, as for HTTP functions.
        using var response = await SendAsync(hook, action, args, wholeBody: true, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            return body.Length == 0 ? HookJson.ToElement(null) : JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new HornbeamException(HornbeamError.BadGateway,
                $"HTTP hook '{hook.AppPath}' action '{action}' answered something that is not JSON: {Snippet(body)}");
        }
    }

    /// <summary>
    /// Chunks from a Server-Sent Events answer (<c>error</c> events fail the stream, <c>done</c> ends it), newline-delimited
    /// JSON, or one chunk for any other JSON answer.
    /// </summary>
    public async IAsyncEnumerable<JsonElement> StreamAsync(HttpHook hook, string action, HookArgs args,
        [EnumeratorCancellation] CancellationToken ct)
    {
        using var response = await SendAsync(hook, action, args, wholeBody: false, ct);
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        var boundary = mediaType switch
        {
            "text/event-stream" => ChunkBoundary.BlankLine,
            "application/x-ndjson" or "application/jsonl" or "application/jsonlines" => ChunkBoundary.Line,
            _ => ChunkBoundary.None,
        };
        // A stream may be long; each event, line or single answer is held to Hornbeam:Webhooks:MaxResponseBytes.
        await using var body = await webhooks.ReadStreamLimitedAsync(response.Content, boundary, ct);
        if (boundary == ChunkBoundary.BlankLine)
        {
            await foreach (var item in SseParser.Create(body).EnumerateAsync(ct))
            {
                if (item.EventType == "done") yield break;
                if (item.EventType == "error")
                    throw new HornbeamException(HornbeamError.HandlerFailed,
                        $"HTTP hook '{hook.AppPath}' action '{action}' failed mid-stream: {ErrorText(item.Data)}");
                yield return ParseChunk(item.Data);
            }
        }
        else if (boundary == ChunkBoundary.Line)
        {
            using var reader = new StreamReader(body, Encoding.UTF8);
            while (await reader.ReadLineAsync(ct) is { } line)
                if (!string.IsNullOrWhiteSpace(line)) yield return ParseChunk(line);
        }
        else
        {
            using var document = await JsonDocument.ParseAsync(body, cancellationToken: ct);
            yield return document.RootElement.Clone();
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpHook hook, string action, HookArgs args, bool wholeBody, CancellationToken ct)
    {
        var url = store.ActionUrl(hook, action);
        var response = await webhooks.PostAsync(url, JsonContent(args), TimeSpan.FromSeconds(options.Value.HttpTimeoutSeconds), wholeBody,
            $"HTTP hook '{hook.AppPath}' action '{action}'", ct);
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var text = await ReadHeadAsync(response.Content, ct);
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new HornbeamException(HornbeamError.NotFound,
                    $"HTTP hook '{hook.AppPath}' has no action '{action}' ({url} answered 404).");
            throw new HornbeamException(HornbeamError.BadGateway,
                $"HTTP hook '{hook.AppPath}' action '{action}' failed: {url} answered {(int)response.StatusCode}: " +
                $"{ErrorText(Encoding.UTF8.GetString(text))}");
        }
    }

    private static ByteArrayContent JsonContent(HookArgs args)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["args"] = args.Args, ["kwargs"] = args.Kwargs });
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
        return content;
    }

    private static JsonElement ParseChunk(string data)
    {
        try
        {
            using var document = JsonDocument.Parse(data);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return HookJson.ToElement(data); // plain-text SSE data is a string chunk
        }
    }

    // An error answer is only quoted, so only its start is read, however long the endpoint makes it.
    private static async Task<byte[]> ReadHeadAsync(HttpContent content, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct);
        var head = new byte[16 * 1024];
        var n = await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
        return head[..n];
    }

    // A ProblemDetails' detail, an {"error"|"message": ...} field, or the text itself, short.
    private static string ErrorText(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
                foreach (var name in new[] { "detail", "message", "error" })
                    if (document.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
                        return Snippet(value.GetString()!);
            if (document.RootElement.ValueKind == JsonValueKind.String) return Snippet(document.RootElement.GetString()!);
        }
        catch (JsonException)
        {
        }
        return Snippet(text);
    }

    private static string Snippet(byte[] bytes) => Snippet(Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 400)));

    private static string Snippet(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
