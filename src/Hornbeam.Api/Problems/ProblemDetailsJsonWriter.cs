using System.Diagnostics;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Problems;

/// <summary>
/// Writes every ProblemDetails as <c>application/problem+json</c>, whatever the request's <c>Accept</c> says. The
/// framework's writer writes only for a client that accepts JSON: an EventSource (<c>text/event-stream</c>) or a browser
/// tab (<c>text/html</c>) got a 500 with an empty body in place of its 401 or 503, or a line of plain text for a 404.
/// JSON is Hornbeam's one error encoding, so a client that asked for something else still gets the status, type and
/// detail. Registered first, it is the only writer that runs: a JSON client gets the same body as any other.
/// </summary>
internal sealed class ProblemDetailsJsonWriter(IOptions<ProblemDetailsOptions> problems, IOptions<JsonOptions> json) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => !context.HttpContext.Response.HasStarted;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        // The defaults the framework's writer gives an error it raised itself (no route, a method the route does not answer).
        problem.Status ??= http.Response.StatusCode;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        if (problem.Type is null && Rfc9110Sections.TryGetValue(problem.Status.Value, out var section))
            problem.Type = "https://tools.ietf.org/html/rfc9110#section-" + section;
        var options = json.Value.SerializerOptions;
        // Named as the framework names it, by the JSON naming policy: trace_id.
        var traceId = options.PropertyNamingPolicy?.ConvertName("traceId") ?? "traceId";
        problem.Extensions.TryAdd(traceId, Activity.Current?.Id ?? http.TraceIdentifier);
        problems.Value.CustomizeProblemDetails?.Invoke(context);
        var typeInfo = options.GetTypeInfo(problem.GetType());
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, typeInfo, "application/problem+json"));
    }

    // The links the framework's writer gives the statuses it (or an authentication handler) answers without a Hornbeam type.
    private static readonly Dictionary<int, string> Rfc9110Sections = new()
    {
        [400] = "15.5.1",
        [401] = "15.5.2",
        [403] = "15.5.4",
        [404] = "15.5.5",
        [405] = "15.5.6",
        [413] = "15.5.14",
        [415] = "15.5.16",
        [500] = "15.6.1",
    };
}
