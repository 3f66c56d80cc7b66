using System.Text.Json;
using Hornbeam.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hornbeam.Hooks;

/// <summary>The RPC side of <see cref="HookRemote"/>: what this node runs when another node asks.</summary>
internal sealed class HookRpcHandlers(Hooks hooks, IConnectionMultiplexer redis, RedisChannels channels, RedisKeys keys,
    IHostApplicationLifetime lifetime, ILogger<HookRpcHandlers> logger) : IHostedService
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(30);

    // The producers of streams other nodes read: shutdown cancels them and waits for them.
    private readonly BackgroundWork _work = new(logger);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => _work.StopAsync(cancellationToken);

    public Task<JsonElement> ExecuteAsync(string appPath, IReadOnlyList<JsonElement> a, CancellationToken ct) =>
        hooks.ExecuteHereAsync(appPath, Str(a, 0, "action"), Args(a, 1), ct);

    public async Task<JsonElement> StartTaskAsync(IReadOnlyList<JsonElement> a, CancellationToken ct) =>
        JsonSerializer.SerializeToElement(await hooks.StartTaskHereAsync(Str(a, 0, "app_path"), Str(a, 1, "action"), Args(a, 2)));

    public async Task<JsonElement> StartStreamAsync(IReadOnlyList<JsonElement> a, CancellationToken ct)
    {
        var (appPath, action, args, id) = (Str(a, 0, "app_path"), Str(a, 1, "action"), Args(a, 2), Str(a, 4, "stream id"));
        // ApplicationStopping too: a stream ends as soon as the host begins to stop, not when its turn to stop comes.
        var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping, _work.Stopping);
        var acked = 0L;
        var wake = new SemaphoreSlim(0);
        var listening = await channels.ListenAsync(keys.HookStreamControl(id), m =>
        {
            if (m == "cancel") stop.Cancel();
            else if (long.TryParse(m.ToString(), out var n))
            {
                long seen;
                while ((seen = Interlocked.Read(ref acked)) < n && Interlocked.CompareExchange(ref acked, n, seen) != seen) { }
                wake.Release();
            }
        });
        _work.Start($"Stream {id} of hook {appPath}", async _ =>
        {
            try
            {
                await ProduceAsync(appPath, action, args, id, () => Interlocked.Read(ref acked), wake, stop.Token);
            }
            finally
            {
                listening.Dispose();
                stop.Dispose();
                wake.Dispose();
            }
        });
        return JsonSerializer.SerializeToElement("started");
    }

    private async Task ProduceAsync(string appPath, string action, HookArgs args, string id, Func<long> acked, SemaphoreSlim wake,
        CancellationToken ct)
    {
        var channel = keys.HookStreamChunks(id);
        var subscriber = redis.GetSubscriber();
        long seq = 0;
        try
        {
            await foreach (var chunk in hooks.StreamHereAsync(appPath, action, args, ct))
            {
                while (seq - acked() >= HookRemote.Window)
                    if (!await wake.WaitAsync(AckTimeout, ct))
                    {
                        logger.LogWarning("Stream {StreamId} of hook {AppPath}: the caller stopped reading; stopping the handler.", id,
                            appPath);
                        return;
                    }
                await subscriber.PublishAsync(channel, StreamMessage.Chunk(seq++, chunk));
            }
            await subscriber.PublishAsync(channel, StreamMessage.Done(seq));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The caller went away (or this node stops): nobody is left to tell.
        }
        catch (Exception e) when (e is not RedisException and not ObjectDisposedException)
        {
            var kind = e is HornbeamException h ? h.Error : HornbeamError.HandlerFailed;
            var message = e is HornbeamException ? e.Message : $"Hook '{appPath}' action '{action}' failed: {e.Message}";
            await subscriber.PublishAsync(channel, StreamMessage.Fail(seq, kind, message));
        }
    }

    private static string Str(IReadOnlyList<JsonElement> a, int i, string what) =>
        a.Count > i && a[i].ValueKind == JsonValueKind.String ? a[i].GetString()! :
        throw new HornbeamException(HornbeamError.InvalidInput, $"argument {i} ({what}) must be a string.");

    private static HookArgs Args(IReadOnlyList<JsonElement> a, int i) => new(
        a.Count > i && a[i].ValueKind == JsonValueKind.Array ? a[i].EnumerateArray().Select(e => e.Clone()).ToArray() : [],
        a.Count > i + 1 && a[i + 1].ValueKind == JsonValueKind.Object
            ? a[i + 1].EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone())
            : new Dictionary<string, JsonElement>());
}
