using Hornbeam.Api.Access;
using Microsoft.OpenApi;

namespace Hornbeam.Api.OpenApi;

/// <summary>The OpenAPI document (<c>/openapi/v1.json</c>, <c>/openapi/v1.yaml</c>) and Swagger UI (<c>/swagger</c>).</summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddHornbeamOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
            {
                [BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "An API key from Hornbeam:Auth:Keys, or a token from POST /auth/tokens (a JWT), sent as " +
                                  "'Authorization: Bearer <key or token>'.",
                },
                [HeaderScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Header,
                    Name = "X-Api-Key",
                    Description = "The same API key, sent as 'X-Api-Key: <key>'.",
                },
                [QueryTokenScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Query,
                    Name = "access_token",
                    Description = "A token from POST /auth/tokens in the query string, for browsers' EventSource and WebSocket, " +
                                  "which cannot send headers. Read only on GET /pubsub/{topic} and GET /ws/{path}; never logged.",
                },
            };
            document.Info = new OpenApiInfo
            {
                Title = "Hornbeam",
                Version = "v1",
                Description = "Cluster powers for web code over Redis: shared state and atomic counters, RPC between nodes, " +
                              "pub/sub, registered functions, hooks and an inference-result cache. Errors are RFC 7807 ProblemDetails.",
            };
            // The document is the same whichever replica or test host serves it: the server is the one that served it.
            document.Servers = [new OpenApiServer { Url = "/", Description = "The replica (or load balancer) that served this document" }];
            AddMetrics(document);
            DescribeTags(document);
            return Task.CompletedTask;
        }).AddOperationTransformer((operation, context, _) =>
        {
            // Routes that need a scope say so, and which one, so Swagger UI's Authorize button applies to them.
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<ScopeMetadata>().FirstOrDefault() is { } scope)
            {
                operation.Security =
                [
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [scope.Scope] },
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(HeaderScheme, context.Document)] = [scope.Scope] },
                ];
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<AccessTokenQuery>().Any())
                    operation.Security.Add(new OpenApiSecurityRequirement
                    {
                        [new OpenApiSecuritySchemeReference(QueryTokenScheme, context.Document)] = [scope.Scope],
                    });
            }
            // Public routes (health) say so: they need no key even when access control is on.
            else operation.Security = [];
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<Idempotency.IdempotencyMetadata>().Any())
                DescribeIdempotencyKey(operation);
            if (operation.RequestBody is OpenApiRequestBody body)
                DescribeJsonBody(operation, body, bound: BindsJsonBody(context.Description.ActionDescriptor.EndpointMetadata));
            DescribeTokenAnswers(operation, context.Description.ActionDescriptor.EndpointMetadata);
            if (operation.Responses?.TryGetValue("503", out var unavailable) == true && unavailable is OpenApiResponse outage
                && outage.Content?.ContainsKey("application/problem+json") == true)
            {
                outage.Description = "Redis could not serve the request. The problem type says whether it may have applied: " +
                                     "urn:hornbeam:problem:redis-unavailable (certainly not; retry), " +
                                     "urn:hornbeam:problem:outcome-unknown (it may have; retry only with the same Idempotency-Key), " +
                                     "urn:hornbeam:problem:overloaded (this node is at capacity; retry).";
                // Its Retry-After header: OpenApiHeadersAndLinks.
            }
            return Task.CompletedTask;
        }).AddConstraints().AddEventStreams().AddHeadersAndLinks().AddStateHeaders().LeavesOutHead());

    /// <summary>
    /// <c>GET /metrics</c> is OpenTelemetry's Prometheus exporter, a plain request delegate the document generator does
    /// not see, so it is described here by hand. Like the health routes it needs no key.
    /// </summary>
    private static void AddMetrics(OpenApiDocument document)
    {
        var text = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
        document.Paths ??= new OpenApiPaths();
        document.Paths["/metrics"] = new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation>
            {
                [HttpMethod.Get] = new()
                {
                    Tags = new HashSet<OpenApiTagReference> { new("Health", document) },
                    Summary = "Metrics for Prometheus to scrape, in its text format (OpenMetrics when the Accept header asks for it)",
                    OperationId = "Metrics",
                    Security = [],
                    Responses = new OpenApiResponses
                    {
                        ["200"] = new OpenApiResponse
                        {
                            Description = "OK",
                            Content = new Dictionary<string, OpenApiMediaType>
                            {
                                ["text/plain"] = text,
                                ["application/openmetrics-text"] = text,
                            },
                        },
                    },
                },
            },
        };
    }

    private static readonly Dictionary<string, string> TagDescriptions = new()
    {
        ["State"] = "Shared state: JSON values and atomic 64-bit counters (the seed's state_* functions). docs/state.md",
        ["Cluster"] = "Live nodes and RPC to a named node (nodes, node, rpc_call, rpc_cast). docs/cluster.md",
        ["Functions"] = "Registered functions, C# or HTTP, called wherever they live (call, cast). docs/cluster.md",
        ["PubSub"] = "publish, and subscribing with Server-Sent Events or WebSockets on any replica. docs/pubsub.md",
        ["Hooks"] = "Hooks run synchronously, as tasks or as streams (execute, execute_async, stream). docs/hooks.md",
        ["Tasks"] = "Waiting for a task started with execute_async (await_result). docs/hooks.md",
        ["Ml"] = "The inference-result cache (cached_inference, cache_stats). docs/ml.md",
        ["Health"] = "Probes and metrics; they need no API key. docs/operations.md",
        ["Auth"] = "Short-lived tokens for browsers, minted with an API key: scopes, topics, expiry. docs/access.md",
    };

    private static void DescribeTags(OpenApiDocument document)
    {
        if (document.Tags is null) return;
        foreach (var tag in document.Tags)
            if (tag.Name is { } name && TagDescriptions.TryGetValue(name, out var description)) tag.Description = description;
    }

    /// <summary>What the token route answers, and what a token changes on the routes that read one from the query.</summary>
    private static void DescribeTokenAnswers(OpenApiOperation operation, IList<object> metadata)
    {
        var responses = operation.Responses;
        if (operation.OperationId == "TokensCreate" && responses is not null)
        {
            operation.Description = "Needs an API key with the 'tokens' or 'admin' scope; a token cannot mint another. The token can " +
                                    "grant no scope the key lacks, and stops being accepted when the key is removed from " +
                                    "Hornbeam:Auth:Keys.";
            Describe(responses, "200", "The token and when it expires.");
            Describe(responses, "400", "Invalid input (urn:hornbeam:problem:invalid-input): an unknown scope or 'tokens', no scopes, an " +
                                       "empty topics list or pattern, or ttl_seconds outside 1..Hornbeam:Auth:Tokens:MaxTtlSeconds.");
            Describe(responses, "501", "No Hornbeam:Auth:Tokens:SigningKeys are configured, so this service mints no tokens " +
                                       "(urn:hornbeam:problem:tokens-not-configured).");
        }
        if (metadata.OfType<AccessTokenQuery>().Any())
        {
            operation.Description = "Browsers may send a token from POST /auth/tokens as ?access_token= (this route reads it, no other " +
                                    "does). A token limited to topics gets 403 for any other topic. When the token expires the " +
                                    "stream ends: an SSE stream with `event: expired`, a WebSocket with close code 1008.";
        }
    }

    private static void Describe(OpenApiResponses responses, string status, string description)
    {
        if (responses.TryGetValue(status, out var response) && response is OpenApiResponse answer) answer.Description = description;
    }

    private static void DescribeIdempotencyKey(OpenApiOperation operation)
    {
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = "Idempotency-Key",
            In = ParameterLocation.Header,
            Required = false,
            Description = "Any unique text (a UUID): a repeat of this request with the same key, from the same credential and within " +
                          "Hornbeam:Idempotency:WindowSeconds, gets the first answer back instead of applying again, on any replica. " +
                          "The same key with a different request answers 422; while the first has not " +
                          "answered, 409.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 255, Pattern = "^[!-~]+$" },
        });
        if (operation.Responses?.TryGetValue("409", out var inUse) == true && inUse is OpenApiResponse conflict)
            conflict.Description = "Conflict: the stored data does not allow this (urn:hornbeam:problem:conflict), or a request with " +
                                   "the same Idempotency-Key has not answered yet (urn:hornbeam:problem:idempotency-key-in-use).";
        if (operation.Responses?.TryGetValue("422", out var reused) == true && reused is OpenApiResponse unprocessable)
            unprocessable.Description =
                "The Idempotency-Key was already used for a different request (urn:hornbeam:problem:idempotency-key-reused).";
    }

    /// <summary>
    /// Every body is JSON under one rule (Json/JsonBodyRules.cs) and one size limit, so every route with a body says so
    /// and lists the 400 and 413 that enforce them.
    /// </summary>
    private static void DescribeJsonBody(OpenApiOperation operation, OpenApiRequestBody body, bool bound)
    {
        // The routes that take any JSON value read the body as JSON whatever its Content-Type; the document names the one to send.
        if (body.Content is { } content && content.Remove("*/*") && content.Count == 0)
            content["application/json"] = new OpenApiMediaType();
        body.Description ??= "JSON in UTF-8 following I-JSON (RFC 7493): no member name twice in one object, no \\u escape for half a " +
                             $"surrogate pair, nested at most {JsonRules.MaxDepth} levels, at most Hornbeam:MaxRequestBodyBytes long.";
        if (operation.Responses?.Values.OfType<OpenApiResponse>()
                .FirstOrDefault(r => r.Content?.ContainsKey("application/problem+json") == true)
            is not { Content: { } problem }) return;
        operation.Responses.TryAdd("400", new OpenApiResponse { Description = "Bad Request", Content = problem });
        if (operation.Responses["400"] is OpenApiResponse invalid)
            invalid.Description =
                "Invalid input (urn:hornbeam:problem:invalid-input): the detail says what is wrong, e.g. the body breaks I-JSON.";
        operation.Responses.TryAdd("413", new OpenApiResponse
        {
            Description = "The body is over Hornbeam:MaxRequestBodyBytes, or a value over Hornbeam:MaxValueBytes " +
                          "(urn:hornbeam:problem:too-large); nothing was applied.",
            Content = problem,
        });
        // The framework binds these bodies and refuses any other Content-Type; the raw routes read any body as JSON.
        if (bound)
            operation.Responses.TryAdd("415", new OpenApiResponse
            {
                Description = "The body's Content-Type is not application/json; the detail says so.",
                Content = problem,
            });
    }

    // A handler parameter of one of the API's request types is bound by the framework, which refuses other content types
    // (415); a handler that takes the HttpRequest reads any body itself.
    private static bool BindsJsonBody(IList<object> metadata) =>
        metadata.OfType<System.Reflection.MethodInfo>().FirstOrDefault()?.GetParameters()
            .Any(p => p.ParameterType.Namespace?.StartsWith("Hornbeam.Api", StringComparison.Ordinal) == true) == true;

    private const string BearerScheme = "Bearer";
    private const string HeaderScheme = "ApiKey";
    private const string QueryTokenScheme = "AccessToken";

    public static IEndpointRouteBuilder MapHornbeamOpenApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapOpenApi("/openapi/{documentName}.yaml");
        // Only requests under /swagger pass through Swagger UI's middleware.
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/swagger"), swagger => swagger.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint("/openapi/v1.json", "Hornbeam v1");
            options.RoutePrefix = "swagger";
            options.DocumentTitle = "Hornbeam";
        }));
        app.MapGet("/", () => TypedResults.Redirect("/swagger")).ExcludeFromDescription();
        return app;
    }
}
