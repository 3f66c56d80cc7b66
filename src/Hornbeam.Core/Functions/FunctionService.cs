using System.Text.Json;
using Hornbeam.Cluster;
using Hornbeam.Redis;
using Hornbeam.Webhooks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam.Functions;

/// <summary>Places each call: this node's C# function, else a live node's over RPC, else an HTTP registration in Redis.</summary>
internal sealed class FunctionService(
    IConnectionMultiplexer redis, RedisKeys keys, NodeIdentity node, RpcModules modules, IClusterPresence presence,
    IRpcClient rpc, RpcServer background, WebhookClient webhooks, IOptions<ClusterOptions> options,
    IOptions<WebhookOptions> webhookOptions) : IFunctions
{
    private int _httpCastsInFlight;

    private IDatabase Db => redis.GetDatabase();

    public async Task<JsonElement> CallAsync(string name, IReadOnlyList<JsonElement> args, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        RpcModules.ValidateName("function", name);
        if (modules.Find(RpcModules.FunctionsModule, name) is not null)
            return await CallCSharpAsync(node.Name, name, args, timeout, cancellationToken);
        if (Offering(name) is { } target) return await CallCSharpAsync(target, name, args, timeout, cancellationToken);
        if (await HttpUrlAsync(name) is { } url)
            return await webhooks.PostJsonAsync(url, Body(args), timeout, $"HTTP function '{name}'", cancellationToken);
        throw NotFound(name);
    }

    public async Task CastAsync(string name, IReadOnlyList<JsonElement> args, CancellationToken cancellationToken = default)
    {
        RpcModules.ValidateName("function", name);
        if (modules.Find(RpcModules.FunctionsModule, name) is not null)
        {
            await rpc.CastAsync(node.Name, RpcModules.FunctionsModule, name, args, cancellationToken);
            return;
        }
        if (Offering(name) is { } target)
        {
            await rpc.CastAsync(target, RpcModules.FunctionsModule, name, args, cancellationToken);
            return;
        }
        if (await HttpUrlAsync(name) is not { } url) throw NotFound(name);
        // Refused now, not in the background: the allow-list may have changed since the function was registered.
        webhooks.EnsureAllowed(url);
        var body = Body(args);
        var timeout = TimeSpan.FromMilliseconds(options.Value.MaxRpcTimeoutMs);
        // HTTP casts run in this process, so their count is what bounds the memory and sockets they hold.
        var limit = webhookOptions.Value.MaxCastsInFlight;
        if (Interlocked.Increment(ref _httpCastsInFlight) > limit)
        {
            Interlocked.Decrement(ref _httpCastsInFlight);
            throw RpcServer.Overloaded(node.Name,
                $"has {limit} casts of HTTP functions in flight, its limit (Hornbeam:Webhooks:MaxCastsInFlight)");
        }
        background.RunInBackground($"Cast of HTTP function '{name}'", async () =>
        {
            try
            {
                await webhooks.PostJsonAsync(url, body, timeout, $"HTTP function '{name}'");
            }
            finally
            {
                Interlocked.Decrement(ref _httpCastsInFlight);
            }
        });
    }

    public async Task<IReadOnlyList<FunctionDescription>> ListAsync()
    {
        var live = await presence.LiveNodesAsync();
        var csharp = live.SelectMany(n => n.Functions.Select(f => (Function: f, n.Node)))
            .Concat(modules.Functions.Select(f => (Function: f, node.Name)))
            .GroupBy(x => x.Function, StringComparer.Ordinal)
            .Select(g => new FunctionDescription(g.Key, "csharp",
                g.Select(x => x.Item2).Distinct().Order(StringComparer.Ordinal).ToArray(), null));
        var http = (await Db.HashGetAllAsync(keys.HttpFunctions))
            .Select(e => new FunctionDescription(e.Name!, "http", null, ParseUrl(e.Value)));
        return csharp.Concat(http).OrderBy(f => f.Name, StringComparer.Ordinal).ThenBy(f => f.Kind, StringComparer.Ordinal).ToArray();
    }

    public async Task RegisterHttpAsync(string name, string? url)
    {
        RpcModules.ValidateName("function", name);
        var uri = await webhooks.EnsureAllowedAsync(url);
        if (modules.Find(RpcModules.FunctionsModule, name) is not null || Offering(name) is not null)
            throw new HornbeamException(HornbeamError.Conflict,
                $"'{name}' is a C# function of a live node; choose another name for the HTTP function.");
        var registration = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["url"] = uri.ToString(),
            ["registered_at"] = DateTimeOffset.UtcNow.ToString("O"),
            ["registered_by"] = node.Name,
        });
        await Db.HashSetAsync(keys.HttpFunctions, name, registration);
    }

    public async Task<bool> UnregisterHttpAsync(string name)
    {
        RpcModules.ValidateName("function", name);
        return await Db.HashDeleteAsync(keys.HttpFunctions, name);
    }

    private async Task<JsonElement> CallCSharpAsync(string target, string name, IReadOnlyList<JsonElement> args, TimeSpan timeout,
        CancellationToken ct)
    {
        try
        {
            return await rpc.CallAsync(target, RpcModules.FunctionsModule, name, args, timeout, ct);
        }
        catch (RpcFailedException e)
        {
            // Where the function ran is the cluster's business; to the caller it is the function that failed.
            throw new HornbeamException(HornbeamError.HandlerFailed, $"function '{name}' failed: {e.Reason}");
        }
    }

    // Any live node that offers it; a random one, so callers spread over them.
    private string? Offering(string name)
    {
        var candidates = presence.KnownNodes.Where(n => n.Node != node.Name && n.Functions.Contains(name)).Select(n => n.Node).ToArray();
        return candidates.Length == 0 ? null : candidates[Random.Shared.Next(candidates.Length)];
    }

    private async Task<string?> HttpUrlAsync(string name) => ParseUrl(await Db.HashGetAsync(keys.HttpFunctions, name));

    private static string? ParseUrl(RedisValue registration)
    {
        if (registration.IsNullOrEmpty) return null;
        using var doc = JsonDocument.Parse((string)registration!);
        return doc.RootElement.GetProperty("url").GetString();
    }

    private static byte[] Body(IReadOnlyList<JsonElement> args)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WritePropertyName("args"u8);
            w.WriteStartArray();
            foreach (var a in args) a.WriteTo(w);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static HornbeamException NotFound(string name) =>
        new(HornbeamError.NotFound,
            $"no live node offers a function '{name}' and no HTTP function has that name. GET /functions lists them.");
}
