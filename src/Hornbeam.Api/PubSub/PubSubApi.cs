using System.Net.WebSockets;
using System.Text.Json;
using Hornbeam.Api.Access;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Api.State;
using Hornbeam.PubSub;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.PubSub;

/// <summary>Pub/sub over REST, Server-Sent Events and WebSockets: the seed's publish, and subscribing on any replica.</summary>
public static class PubSubApi
{
    public static RouteGroupBuilder MapPubSub(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/pubsub").WithTags("PubSub").RequireScope(Scopes.PubSub);

        group.MapGet("/", Topics).WithName("PubSubTopics")
            .WithSummary("List topics that have subscribers, with their subscriber counts across live nodes")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/{**topic}", Publish).WithName("PubSubPublish").AcceptsIdempotencyKey(appliedByHandler: true)
            .WithSummary("publish: send any JSON value to every subscriber of a topic on every replica; answers how many it reached")
            .Accepts<JsonElement>("application/json", "*/*").ChecksJsonBodyItself()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        // No 503: while Redis is away the stream itself says when to reconnect.
        group.MapGet("/{**topic}", Subscribe).WithName("PubSubSubscribe").AcceptsAccessToken()
            .WithSummary("Subscribe with Server-Sent Events; Last-Event-ID (or last_event_id) replays the messages missed since")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        routes.MapGet("/ws/{**path}", WebSocket).WithName("PubSubWebSocket").WithTags("PubSub").RequireScope(Scopes.PubSub)
            .AcceptsAccessToken()
            .WithSummary(
                "Subscribe with a WebSocket to the topic named by the path (/ws/chat/general is chat:general); " +
                "text frames sent are published")
            .Produces(StatusCodes.Status101SwitchingProtocols)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return group;
    }

    public static async Task<Ok<PubSubTopicList>> Topics(IPubSub pubsub, HttpContext context)
    {
        var topics = await pubsub.TopicsAsync();
        // A token limited to some topics lists only those: the others' names are not its business.
        return TypedResults.Ok(new PubSubTopicList(topics.Where(t => TopicAccess.Allows(context, t.Topic))
            .Select(t => new PubSubTopicInfo(t.Topic, t.Subscribers, t.LastEventId)).ToArray()));
    }

    public static async Task<Ok<PublishResponse>> Publish(string topic, HttpRequest request, IPubSub pubsub,
        IOptions<HornbeamOptions> options)
    {
        var name = RouteKey.Decode(request.HttpContext, topic);
        TopicAccess.Demand(request.HttpContext, name);
        var body = await RequestBody.ReadAsync(request, options.Value.MaxValueBytes);
        // With an Idempotency-Key the message and the record of its id are one script, so a retry publishes it once.
        var published = request.HttpContext.Features.Get<Hornbeam.Idempotency.IdempotentRequest>() is { } once
            ? await pubsub.PublishJsonAsync(name, body, once)
            : await pubsub.PublishJsonAsync(name, body);
        return TypedResults.Ok(new PublishResponse(published.Subscribers, published.Id));
    }

    internal static async Task<PubSubEventStream> Subscribe(string topic, HttpContext context, IPubSub pubsub,
        IOptions<PubSubOptions> options, [FromHeader(Name = "Last-Event-ID")] long? lastEventIdHeader = null,
        [FromQuery(Name = "last_event_id")] long? lastEventId = null)
    {
        // Subscribed before the response starts, so a bad topic is still a ProblemDetails. A failure that passes (Redis unavailable,
        // the node shutting down or full) is a stream that says reconnect instead of a 503: EventSource gives up for good on a
        // status other than 200. The stream's writer never blocks between awaits, so the fan-out may run it inline.
        var key = RouteKey.Decode(context, topic);
        TopicAccess.Demand(context, key);
        var after = lastEventIdHeader ?? lastEventId;
        try
        {
            var stream = new PubSubEventStream(await pubsub.SubscribeAsync(key, after, deliverInline: true, context.RequestAborted),
                options.Value);
            // The token that opened the stream ends it when it expires (an API key never does).
            TopicAccess.Expiry(context).Register(() => stream.End(PubSubStreamEnd.Expired));
            return stream;
        }
        catch (Exception e) when (PubSubStreamEnd.Temporary(e) is { } reason)
        {
            return new PubSubEventStream(PubSubStreamEnd.Reconnect(reason, after, options.Value.RetryInterval), options.Value);
        }
    }

    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> WebSocket(string path, HttpContext context, IPubSub pubsub,
        IOptions<PubSubOptions> options, IOptions<HornbeamOptions> hornbeam, ILogger<PubSubEventStream> logger,
        [FromQuery(Name = "last_event_id")] long? lastEventId = null)
    {
        if (!context.WebSockets.IsWebSocketRequest)
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, type: Problems.ProblemTypes.InvalidInput,
                title: "Invalid input", detail: "This endpoint speaks WebSocket: connect with a WebSocket client (Upgrade: websocket).");
        var topic = string.Join(':', RouteKey.DecodeSegments(context, path));
        try
        {
            TopicAccess.Demand(context, topic);
        }
        catch (HornbeamException e) when (e.Error == HornbeamError.Forbidden)
        {
            // As access control refuses a socket: after the upgrade, where a browser can read why.
            await WebSocketRefusal.RefuseAsync(context, StatusCodes.Status403Forbidden, Problems.ProblemTypes.Forbidden, "Forbidden",
                e.Message);
            return TypedResults.Empty;
        }
        var retry = options.Value.RetryInterval;
        // As for SSE: a bad topic is refused before the upgrade (400); a failure that passes is a reconnect frame and close after it.
        PubSubSubscription? subscription = null;
        PubSubStreamEnd? refused = null;
        try
        {
            subscription = await pubsub.SubscribeAsync(topic, lastEventId, context.RequestAborted);
        }
        catch (Exception e) when (PubSubStreamEnd.Temporary(e) is { } reason)
        {
            refused = PubSubStreamEnd.Reconnect(reason, lastEventId, retry);
        }
        await using (subscription)
        {
            // A keep-alive every KeepAliveInterval, with no pong timeout (KeepAliveTimeout): a slow reader's pong queues behind all
            // it has not read yet, and the timeout would cut it off mid-frame. A dead peer on a busy topic overflows and is closed.
            using var socket = await context.WebSockets
                .AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = options.Value.KeepAliveInterval });
            var connection = new PubSubWebSocket(socket, subscription, pubsub, hornbeam.Value.MaxValueBytes, retry, logger);
            if (refused is not null) connection.End(refused);
            using var expiry = TopicAccess.Expiry(context).Register(() => connection.End(PubSubStreamEnd.Expired));
            await connection.RunAsync();
        }
        return TypedResults.Empty;
    }
}

/// <summary>What a publish did: how many subscribers across live nodes the message was delivered to, and its event id.</summary>
public sealed record PublishResponse(long Subscribers, long Id);

/// <summary>Topics that have subscribers.</summary>
public sealed record PubSubTopicList(IReadOnlyList<PubSubTopicInfo> Topics);

/// <summary>A topic, its subscribers across live nodes and the id of its last message.</summary>
public sealed record PubSubTopicInfo(string Topic, long Subscribers, long LastEventId);

/// <summary>The first event of a stream: the topic and the event id delivery continues after.</summary>
public sealed record PubSubSubscribed(string Topic, long LastEventId);
