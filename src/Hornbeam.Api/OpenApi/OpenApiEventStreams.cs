using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Hornbeam.Api.OpenApi;

/// <summary>
/// The <c>text/event-stream</c> answers described by the events actually sent, in place of the framework's <c>SseItem</c>
/// schema (a C# type, not what is on the wire). A stream's schema is a <c>oneOf</c> of its events, each an object of the
/// SSE fields it carries: <c>event</c> (a <c>const</c> naming it), <c>id</c>, <c>retry</c> and <c>data</c>, a string of JSON
/// whose shape is its <c>contentSchema</c>. That is how OpenAPI 3.2 describes SSE (its <c>itemSchema</c>); in 3.1 it is
/// plain JSON Schema, so Redocly lints it and a reader or generator sees each event's name and data, with no extension to learn.
/// </summary>
internal static class OpenApiEventStreams
{
    private static readonly (string Operation, string Stream)[] Streams =
        [("PubSubSubscribe", "PubSubEventStream"), ("HooksStream", "HookEventStream"), ("StateChanges", "StateChangesEventStream")];

    public static OpenApiOptions AddEventStreams(this OpenApiOptions options) => options.AddDocumentTransformer((document, _, _) =>
    {
        document.Components ??= new OpenApiComponents();
        var schemas = document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        AddPubSubEvents(schemas, document);
        AddHookEvents(schemas, document);
        AddStateChangeEvents(schemas, document);
        foreach (var operation in OpenApiHeadersAndLinks.Operations(document))
        {
            // Its 200 is also the JSON of the key 'changes' (read without a prefix), which takes the place of the stream.
            if (operation.OperationId == "StateChanges" && operation.Responses?.TryGetValue("200", out var both) == true
                && both is OpenApiResponse response && response.Content is { } content)
            {
                content.TryAdd("text/event-stream", new OpenApiMediaType());
                response.Description = "The change feed (text/event-stream); without prefix, the key 'changes' (application/json).";
            }
            foreach (var (id, stream) in Streams)
                if (operation.OperationId == id && operation.Responses?.TryGetValue("200", out var ok) == true
                    && ok.Content?.TryGetValue("text/event-stream", out var events) == true && events is OpenApiMediaType media)
                    media.Schema = new OpenApiSchemaReference(stream, document);
        }
        // Referenced by nothing now: the framework's description of the C# type the stream is written from.
        foreach (var name in schemas.Keys.Where(k => k.StartsWith("SseItemOf", StringComparison.Ordinal)).ToArray()) schemas.Remove(name);
        return Task.CompletedTask;
    });

    private static void AddPubSubEvents(IDictionary<string, IOpenApiSchema> schemas, OpenApiDocument document)
    {
        schemas["PubSubSubscribed"] = Object("The topic and the event id delivery continues after.",
            ("topic", String()), ("last_event_id", Long()));
        schemas["PubSubGap"] = Object("History no longer reaches back to last_event_id (or it is ahead of the topic): messages " +
                                      "up to resumes_after are lost to this subscriber; resynchronise, e.g. from state.",
            ("last_event_id", Long()), ("resumes_after", Long()), ("reason", String()));
        schemas["PubSubOverflow"] = Object("The subscriber fell more than buffer_capacity messages behind and is cut off; " +
                                           "subscribe again with last_event_id to resume from history.",
            ("reason", String()), ("buffer_capacity", Long()), ("last_event_id", Long()));
        var reconnect = Object("This replica cannot serve the subscription now (it lost Redis, is shutting down or holds its " +
                               "maximum of subscriptions); the stream ends. Subscribe again (to any replica) after retry_ms with " +
                               "the last event id you have: last_event_id, absent when none was given.",
            ("reason", String()), ("last_event_id", Long()), ("retry_ms", Long()));
        reconnect.Required!.Remove("last_event_id");
        schemas["PubSubReconnect"] = reconnect;
        schemas["PubSubSubscribedEvent"] = Event("subscribed", "First: the subscription is live; retry is the reconnect delay in ms.",
            Ref("PubSubSubscribed", document), id: false, retry: true);
        schemas["PubSubMessageEvent"] = Event(null, "A published message: id is its event id (send it back as Last-Event-ID), " +
                                                    "data the JSON value that was published.", new OpenApiSchema(), id: true);
        schemas["PubSubGapEvent"] = Event("gap", "Before the first message after a hole; id is where delivery resumes.",
            Ref("PubSubGap", document), id: true);
        schemas["PubSubOverflowEvent"] = Event("overflow", "Last event of a subscriber that fell behind.",
            Ref("PubSubOverflow", document), id: false, retry: true);
        schemas["PubSubReconnectEvent"] = Event("reconnect", "Last event when the replica loses Redis or shuts down; the only " +
                                                             "event when it cannot serve the subscription at all right now. It " +
                                                             "has no id, so EventSource keeps its Last-Event-ID.",
            Ref("PubSubReconnect", document), id: false, retry: true);
        schemas["PubSubEventStream"] = Stream("A subscription: 'subscribed', then each message, 'gap' where history no " +
                                              "longer reaches back, and 'overflow' or 'reconnect' as the last event. A ': ping' " +
                                              "comment comes every Hornbeam:PubSub:KeepAliveInterval. Open until the client leaves. " +
                                              "While the replica cannot serve it (Redis away, shutting down, full) the answer is " +
                                              "still 200, with 'reconnect' alone: EventSource closes for good on any other status.",
            document,
            "PubSubSubscribedEvent", "PubSubMessageEvent", "PubSubGapEvent", "PubSubOverflowEvent", "PubSubReconnectEvent");
    }

    private static void AddHookEvents(IDictionary<string, IOpenApiSchema> schemas, OpenApiDocument document)
    {
        schemas["HookStreamDone"] = Object("The stream ended well after this many chunks.", ("chunks", Long()));
        schemas["StreamError"] = Object("Shaped like a ProblemDetails: the error that ended the stream.",
            ("type", String()), ("status", new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" }), ("detail", String()));
        schemas["HookChunkEvent"] = Event("chunk", "One item the action yielded, as JSON.", new OpenApiSchema(), id: false);
        schemas["HookDoneEvent"] = Event("done", "Last event of a stream that ended well.", Ref("HookStreamDone", document), id: false);
        schemas["HookErrorEvent"] = Event("error", "Last event of a stream that failed after it started.",
            Ref("StreamError", document), id: false);
        schemas["HookEventStream"] = Stream("A hook's stream: one 'chunk' per item, then 'done', or 'error' if the action fails " +
                                            "after its first item (a failure before it is a ProblemDetails answer).", document,
            "HookChunkEvent", "HookDoneEvent", "HookErrorEvent");
    }

    private static void AddStateChangeEvents(IDictionary<string, IOpenApiSchema> schemas, OpenApiDocument document)
    {
        schemas["StateChangesSubscribed"] = Object("The watched prefix and the position the feed delivers changes after.",
            ("prefix", String()), ("last_event_id", String()));
        var change = Object("One change of a key under the prefix. value: the JSON after a set, the counter after an incr; " +
                            "delta: what an incr added (increments that reached Redis together are one change); etag: the " +
                            "value's ETag after a set or incr, as GET answers it; expire: the key's lifetime ran out, recorded " +
                            "when the expiry sweep finds it gone (up to its interval late); version: the change's id in its " +
                            "key's stream, growing per key.",
            ("key", String()),
            ("op", new OpenApiSchema { Type = JsonSchemaType.String, Enum = ["set", "delete", "incr", "expire"] }),
            ("value", new OpenApiSchema()), ("delta", Long()), ("etag", String()), ("version", String()));
        change.Required!.Remove("value");
        change.Required.Remove("delta");
        change.Required.Remove("etag");
        schemas["StateChange"] = change;
        schemas["StateChangesGap"] = Object("Changes were lost to this feed: trimmed (retention), never recorded (the prefix went " +
                                            "unwatched longer than the lease) or last_event_id is unknown. Re-read the state; the " +
                                            "feed goes on after resumes_after.",
            ("reason", String()), ("last_event_id", String()), ("resumes_after", String()));
        var reconnect = Object("This replica cannot serve the feed now (it lost Redis or is shutting down); the stream ends. " +
                               "Watch again (any replica) after retry_ms with last_event_id, absent when none was given.",
            ("reason", String()), ("last_event_id", String()), ("retry_ms", Long()));
        reconnect.Required!.Remove("last_event_id");
        schemas["StateChangesReconnect"] = reconnect;
        const string position = "^[A-Za-z0-9_-]+$";
        schemas["StateChangesSubscribedEvent"] = Event("subscribed", "First: the feed is live; retry is the reconnect delay in ms.",
            Ref("StateChangesSubscribed", document), id: false, retry: true);
        schemas["StateChangeEvent"] = Event(null, "A change: id is the feed's position after it (send it back as Last-Event-ID).",
            Ref("StateChange", document), id: true, idPattern: position);
        schemas["StateChangesGapEvent"] = Event("gap", "Changes were lost; id is where the feed resumes.",
            Ref("StateChangesGap", document), id: true, idPattern: position);
        schemas["StateChangesReconnectEvent"] = Event("reconnect", "Last event when the replica loses Redis or shuts down; the " +
                                                                   "only event when it cannot watch at all right now.",
            Ref("StateChangesReconnect", document), id: false, retry: true);
        schemas["StateChangesEventStream"] = Stream("A change feed: 'subscribed', then each change in order per key, 'gap' " +
                                                    "where changes were lost, and 'reconnect' (or 'expired', as for pub/sub) as " +
                                                    "the last event. A ': ping' comment comes every " +
                                                    "Hornbeam:PubSub:KeepAliveInterval.", document,
            "StateChangesSubscribedEvent", "StateChangeEvent", "StateChangesGapEvent", "StateChangesReconnectEvent");
    }

    private static OpenApiSchema Stream(string description, OpenApiDocument document, params string[] events) => new()
    {
        Description = description + " Each item is one event: its SSE fields, with data the JSON in its data: line(s).",
        OneOf = events.Select(e => (IOpenApiSchema)Ref(e, document)).ToList(),
    };

    /// <summary>One SSE event; <paramref name="name"/> null is SSE's default type, 'message', sent without an event: line.</summary>
    private static OpenApiSchema Event(string? name, string description, IOpenApiSchema data, bool id, bool retry = false,
        string idPattern = "^[0-9]+$")
    {
        var properties = new Dictionary<string, IOpenApiSchema>
        {
            ["event"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Const = name ?? "message",
                // As EventSource dispatches it: a message's type is 'message' although no event: line is sent for it.
                Description = name is null ? "'message', SSE's default type: sent without an event: line." : null,
            },
            ["data"] = new OpenApiSchema { Type = JsonSchemaType.String, ContentMediaType = "application/json", ContentSchema = data },
        };
        var required = new HashSet<string> { "event", "data" };
        if (id)
        {
            properties["id"] = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = idPattern, Description = "The event id." };
            required.Add("id");
        }
        if (retry)
        {
            properties["retry"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Integer,
                Minimum = "0",
                Description = "Milliseconds to wait before reconnecting.",
            };
            required.Add("retry");
        }
        return new OpenApiSchema { Type = JsonSchemaType.Object, Description = description, Properties = properties, Required = required };
    }

    private static OpenApiSchema Object(string description, params (string Name, IOpenApiSchema Schema)[] properties) => new()
    {
        Type = JsonSchemaType.Object,
        Description = description,
        Properties = properties.ToDictionary(p => p.Name, p => p.Schema),
        Required = properties.Select(p => p.Name).ToHashSet(),
    };

    private static OpenApiSchema String() => new() { Type = JsonSchemaType.String };

    private static OpenApiSchema Long() => new() { Type = JsonSchemaType.Integer, Format = "int64" };

    private static OpenApiSchemaReference Ref(string name, OpenApiDocument document) => new(name, document);
}
