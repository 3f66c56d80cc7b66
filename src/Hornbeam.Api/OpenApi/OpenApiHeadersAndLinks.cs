using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Hornbeam.Api.OpenApi;

/// <summary>
/// What the answers carry besides their bodies: the headers the server sets (Location on a task's 202, Retry-After on a
/// 429, WWW-Authenticate on a 401) and links from a write to where its result is read, so a client knows the next request.
/// </summary>
internal static class OpenApiHeadersAndLinks
{
    /// <summary>
    /// HEAD is answered on GET routes (Hosting/HeadRequests.cs) but not described: it is the GET without a body, and a
    /// second operation per route would repeat every description under the same operationId.
    /// </summary>
    public static OpenApiOptions LeavesOutHead(this OpenApiOptions options)
    {
        var include = options.ShouldInclude;
        options.ShouldInclude = description => !HttpMethods.IsHead(description.HttpMethod ?? "") && include(description);
        return options;
    }

    public static OpenApiOptions AddHeadersAndLinks(this OpenApiOptions options) => options.AddDocumentTransformer((document, _, _) =>
    {
        document.Components ??= new OpenApiComponents();
        // Defined once and referenced: the same three headers are on most operations.
        document.Components.Headers ??= new Dictionary<string, IOpenApiHeader>();
        document.Components.Headers[TaskLocation] = Header("/tasks/{task_id}: where the task's result is awaited.",
            new OpenApiSchema { Type = JsonSchemaType.String, Format = "uri-reference" });
        document.Components.Headers[RetryAfter] = Header("Seconds to wait before retrying.",
            new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" });
        document.Components.Headers[WwwAuthenticate] = Header(
            "'Bearer': send the key as 'Authorization: Bearer <key>' (or 'X-Api-Key: <key>').",
            new OpenApiSchema { Type = JsonSchemaType.String });
        foreach (var operation in Operations(document))
        {
            if (operation.Responses is not { } responses) continue;
            foreach (var (status, response) in responses)
                if (response is OpenApiResponse answer) DescribeHeaders(status, answer, document);
            AddLinks(operation.OperationId, responses);
        }
        return Task.CompletedTask;
    });

    private const string TaskLocation = "TaskLocation";
    private const string RetryAfter = "RetryAfter";
    private const string WwwAuthenticate = "WwwAuthenticate";

    internal static IEnumerable<OpenApiOperation> Operations(OpenApiDocument document) =>
        document.Paths?.Values.SelectMany(p => p.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>()) ?? [];

    private static void DescribeHeaders(string status, OpenApiResponse response, OpenApiDocument document)
    {
        switch (status)
        {
            case "202" when response.Content is { Count: > 0 }:
                Use(response, "Location", TaskLocation, document);
                break;
            case "202":
                response.Description = "Accepted: the call was sent; a cast has no result to come back for, so no Location.";
                break;
            case "401":
                response.Description = "No API key or token, or one that is not valid or has expired " +
                                       "(urn:hornbeam:problem:unauthorized).";
                Use(response, "WWW-Authenticate", WwwAuthenticate, document);
                break;
            case "403":
                response.Description = "The API key or token lacks the scope this route requires (the detail names it), a token's " +
                                       "topic patterns do not match the topic, a token request names a scope its key lacks, or (where " +
                                       "a URL is registered) the URL is not allowed (urn:hornbeam:problem:forbidden).";
                break;
            case "429":
                response.Description = "The rate limit of this key (of this token; of this address, without either) is used up, or " +
                                       "this address sent too many invalid keys (urn:hornbeam:problem:rate-limited).";
                Use(response, "Retry-After", RetryAfter, document);
                break;
            // The health probes' 503 is their JSON report, sent without Retry-After; every ProblemDetails 503 has it.
            case "503" when response.Content?.ContainsKey("application/problem+json") == true:
                Use(response, "Retry-After", RetryAfter, document);
                break;
        }
    }

    private static OpenApiHeader Header(string description, OpenApiSchema schema) =>
        new() { Description = description, Required = true, Schema = schema };

    private static void Use(OpenApiResponse response, string name, string component, OpenApiDocument document)
    {
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeaderReference(component, document);
    }

    private static void AddLinks(string? operationId, OpenApiResponses responses)
    {
        switch (operationId)
        {
            case "StateSet":
                Link(responses, "204", "StateGet", "Read the value back", ("key", "$request.path.key"));
                break;
            case "StateIncr" or "StateDecr":
                Link(responses, "200", "StateGet", "Read the counter", ("key", "$request.path.key"));
                break;
            case "HooksExecuteAsync":
                Link(responses, "202", "TasksAwait", "Wait for the task's result", ("task_id", "$response.body#/task_id"));
                break;
            case "TasksAwait":
                Link(responses, "202", "TasksAwait", "Still running: wait again", ("task_id", "$response.body#/task_id"));
                break;
        }
    }

    private static void Link(OpenApiResponses responses, string status, string operationId, string description,
        params (string Name, string Expression)[] parameters)
    {
        if (!responses.TryGetValue(status, out var found) || found is not OpenApiResponse response) return;
        response.Links ??= new Dictionary<string, IOpenApiLink>();
        response.Links[operationId] = new OpenApiLink
        {
            OperationId = operationId,
            Description = description,
            Parameters = parameters.ToDictionary(p => p.Name,
                p => new RuntimeExpressionAnyWrapper { Expression = RuntimeExpression.Build(p.Expression) }),
        };
    }
}
