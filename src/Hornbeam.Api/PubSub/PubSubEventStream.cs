using System.Net.ServerSentEvents;
using System.Reflection;
using System.Text.Json;
using Hornbeam.PubSub;
using Microsoft.AspNetCore.Http.Metadata;

namespace Hornbeam.Api.PubSub;

/// <summary>
/// A subscription as a <c>text/event-stream</c>, written by ASP.NET Core's <see cref="TypedResults.ServerSentEvents{T}(IAsyncEnumerable{SseItem{T}})"/>:
/// first <c>event: subscribed</c> with <c>retry</c>, then each message with <c>id</c> = its event id and <c>data</c> = its JSON,
/// <c>event: gap</c> where history no longer reaches back, <c>event: overflow</c> before a slow subscriber is cut off, and a
/// <c>: ping</c> comment every keep-alive interval so proxies keep the connection.
/// </summary>
public sealed class PubSubEventStream(PubSubSubscription subscription, PubSubOptions options) : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private static readonly byte[] Ping = ": ping\n\n"u8.ToArray();

    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext context)
    {
        await using (subscription)
            await TypedResults.ServerSentEvents(Events(context)).ExecuteAsync(context);
    }

    private async IAsyncEnumerable<SseItem<byte[]>> Events(HttpContext context)
    {
        var cancellation = context.RequestAborted;
        yield return new SseItem<byte[]>(JsonSerializer.SerializeToUtf8Bytes(
            new PubSubSubscribed(subscription.Topic, subscription.StartsAfter), PubSubJsonContext.Default.PubSubSubscribed), "subscribed")
        {
            ReconnectionInterval = options.RetryInterval,
        };

        await using var messages = subscription.GetAsyncEnumerator(cancellation);
        using var keepAlive = new PeriodicTimer(options.KeepAliveInterval);
        Task<bool>? tick = null;
        while (true)
        {
            var next = messages.MoveNextAsync();
            if (!next.IsCompleted)
            {
                var pending = next.AsTask();
                // The formatter writes only between items, so a comment written here never splits an event.
                while (await Task.WhenAny(pending, tick ??= keepAlive.WaitForNextTickAsync(cancellation).AsTask()) == tick)
                {
                    if (!tick.IsCompletedSuccessfully || !tick.Result) break;
                    tick = null;
                    await context.Response.Body.WriteAsync(Ping, cancellation);
                    await context.Response.Body.FlushAsync(cancellation);
                }
                next = new ValueTask<bool>(pending);
            }
            bool more;
            try
            {
                more = await next;
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                more = false; // the client went away
            }
            if (!more) yield break;

            var message = messages.Current;
            yield return message.Kind switch
            {
                PubSubMessageKind.Message => new SseItem<byte[]>(message.Json) { EventId = message.Id.ToString() },
                PubSubMessageKind.Gap => new SseItem<byte[]>(message.Json, "gap") { EventId = message.Id.ToString() },
                _ => new SseItem<byte[]>(message.Json, "overflow"),
            };
        }
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(SseItem<JsonElement>), ["text/event-stream"]));
}
