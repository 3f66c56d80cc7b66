using Hornbeam.Api.Access;
using Hornbeam.Api.Json;
using Hornbeam.Api.PubSub;
using Hornbeam.PubSub;
using Hornbeam.State;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.State;

/// <summary>The state change feed over Server-Sent Events: <c>GET /state/changes?prefix=P</c>.</summary>
public static class StateChangesApi
{
    public static RouteHandlerBuilder MapStateChanges(this RouteGroupBuilder group) =>
        group.MapGet("/changes", Changes).WithName("StateChanges").RequireScope(Scopes.StateRead).AcceptsAccessToken()
            .WithSummary("Watch the keys under a prefix with Server-Sent Events: every set, delete and increment, in order per " +
                         "key; Last-Event-ID (or last_event_id) resumes. Without prefix, this reads the key 'changes'")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);

    internal static async Task<Results<StateChangesEventStream, RawJson<StateEntry>, ProblemHttpResult>> Changes(HttpContext context,
        IStateChanges changes, IStateStore state, IOptions<PubSubOptions> options, IHostApplicationLifetime lifetime,
        [FromQuery(Name = "prefix")] string? prefix = null, [FromHeader(Name = "Last-Event-ID")] string? lastEventIdHeader = null,
        [FromQuery(Name = "last_event_id")] string? lastEventId = null)
    {
        // The route shadows GET /state/{key} for the key 'changes': without a prefix it is still that read.
        if (!context.Request.Query.ContainsKey("prefix"))
            return (await StateApi.Get("changes", state, context)).Result switch
            {
                RawJson<StateEntry> found => found,
                ProblemHttpResult problem => problem,
                var other => throw new InvalidOperationException($"Unexpected answer {other}."),
            };
        var after = lastEventIdHeader ?? lastEventId;
        // Watched before the response starts, so bad input is still a ProblemDetails; a failure that passes is a stream that
        // says reconnect, as for /pubsub.
        try
        {
            var stream = new StateChangesEventStream(await changes.WatchAsync(prefix ?? "", after, context.RequestAborted),
                options.Value, after);
            TopicAccess.Expiry(context).Register(() => stream.End(PubSubStreamEnd.Expired.Event!, PubSubStreamEnd.Expired.Data!));
            context.Response.RegisterForDispose(lifetime.ApplicationStopping.Register(stream.EndForShutdown));
            return stream;
        }
        catch (Exception e) when (PubSubStreamEnd.Temporary(e) is { } reason)
        {
            return new StateChangesEventStream(reason, options.Value, after);
        }
    }
}
