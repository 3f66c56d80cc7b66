using System.Text.Json.Nodes;
using Hornbeam.Api.Access;
using Hornbeam.Api.Cluster;
using Hornbeam.Api.Functions;
using Hornbeam.Api.Hooks;
using Hornbeam.Api.Ml;
using Hornbeam.Api.State;
using Hornbeam.Cluster;
using Hornbeam.Hooks;
using Hornbeam.Tasks;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Hornbeam.Api.OpenApi;

/// <summary>
/// The limits the server enforces, written into the document from the options this replica runs with, so generated
/// clients and validators refuse what the server would refuse. The checks themselves stay in Core, with their messages.
/// </summary>
internal static class OpenApiConstraints
{
    private const string NamePattern = "^[A-Za-z0-9_.-]+$";
    private const string FunctionNamePattern = "^[^\\s/:{}]+$";
    private const string PrefixPattern = "^[^{}]+$";

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static OpenApiSchema? Property(IDictionary<string, IOpenApiSchema> properties, string name) =>
        properties.TryGetValue(name, out var schema) ? schema as OpenApiSchema : null;

    private static void DescribeTokenRequest(IDictionary<string, IOpenApiSchema> properties, IServiceProvider services)
    {
        var max = services.GetRequiredService<IOptions<AccessOptions>>().Value.Tokens.MaxTtlSeconds;
        if (Property(properties, "scopes") is OpenApiSchema scopes)
        {
            (scopes.Type, scopes.MinItems) = (JsonSchemaType.Array, 1);
            scopes.Items = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Enum = [.. Scopes.All.Where(s => s != Scopes.Tokens).Select(s => (JsonNode)JsonValue.Create(s))],
            };
            scopes.Description = "What the token may do; each scope must be held by the minting key (403 otherwise).";
        }
        if (Property(properties, "topics") is OpenApiSchema topics)
        {
            (topics.MinItems, topics.MaxItems) = (1, TokensApi.MaxTopics);
            topics.Items = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = TokensApi.MaxTopicPatternLength };
            topics.Description = "Topic patterns the token may publish and subscribe to; '*' matches any characters (chat:* matches " +
                                 "chat:general). Left out: every topic.";
        }
        if (Property(properties, "ttl_seconds") is OpenApiSchema ttl)
        {
            (ttl.Minimum, ttl.Maximum) = ("1", Text(max));
            ttl.Default = JsonValue.Create(Math.Min(TokensApi.DefaultTtlSeconds, max));
            ttl.Description = "Seconds the token lives, at most Hornbeam:Auth:Tokens:MaxTtlSeconds.";
        }
    }

    // The lookup, store and release of a function the caller runs: the same prefix rule as POST /ml/cached, and a lookup's
    // answer holds a result on a hit, a claim and its lease on a miss.
    private static void DescribeMlCacheLookup(Type type, IDictionary<string, IOpenApiSchema> properties, OpenApiSchema schema)
    {
        if (type == typeof(MlCacheLookupResponse))
        {
            schema.Required = new HashSet<string> { "cached", "cache_key" };
            if (Property(properties, "result") is OpenApiSchema hit) hit.Description = "The cached result; only on a hit.";
            if (Property(properties, "claim") is OpenApiSchema claim)
                claim.Description = "Only on a miss: store or release with it. Null when the wait for another caller's result " +
                                    "lasted the whole lease: compute, and store without a claim.";
            if (Property(properties, "lease_ms") is OpenApiSchema lease)
                lease.Description = "Only on a miss: how long the claim lasts (Hornbeam:Ml:LockTimeoutMs); then the next caller may claim.";
            return;
        }
        if (Property(properties, "cache_prefix") is OpenApiSchema prefix)
            (prefix.MinLength, prefix.Pattern, prefix.Default) = (1, PrefixPattern, JsonValue.Create("ml"));
        if (Property(properties, "cache_key") is OpenApiSchema key) key.MinLength = 1;
        if (Property(properties, "ttl_seconds") is OpenApiSchema ttl) ttl.Minimum = "1";
        if (Property(properties, "result") is OpenApiSchema result) result.Not = new OpenApiSchema { Type = JsonSchemaType.Null };
        if (type == typeof(MlCacheStoreRequest)) schema.Required = new HashSet<string> { "cache_key", "result" };
        else if (type == typeof(MlCacheReleaseRequest)) schema.Required = new HashSet<string> { "cache_key", "claim" };
    }

    public static OpenApiOptions AddConstraints(this OpenApiOptions options) => options
        .AddOperationTransformer((operation, context, _) =>
        {
            var services = context.ApplicationServices;
            var hornbeam = services.GetRequiredService<IOptions<HornbeamOptions>>().Value;
            var tasks = services.GetRequiredService<IOptions<TaskOptions>>().Value;
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
            {
                if (parameter.Schema is not OpenApiSchema schema) continue;
                switch (parameter.Name)
                {
                    case "key":
                        schema.MinLength = 1;
                        schema.MaxLength = hornbeam.MaxKeyBytes;
                        parameter.Description ??= $"The key: 1 to {hornbeam.MaxKeyBytes} UTF-8 bytes, " +
                                                  "any characters ('/' and ':' included), " +
                                                  "percent-decoded once; no segment that is only '.' or '..'.";
                        break;
                    case "topic" or "path":
                        schema.MinLength = 1;
                        break;
                    case "app_path" or "action":
                        (schema.MinLength, schema.MaxLength, schema.Pattern) = (1, HookNames.MaxLength, NamePattern);
                        break;
                    case "name" when context.Description.RelativePath?.StartsWith("functions", StringComparison.Ordinal) == true:
                        (schema.MinLength, schema.MaxLength, schema.Pattern) = (1, 200, FunctionNamePattern);
                        break;
                    case "limit":
                        (schema.Minimum, schema.Maximum) = ("1", Text(hornbeam.MaxKeysPage));
                        schema.Default = JsonValue.Create(hornbeam.DefaultKeysPage);
                        break;
                    case "timeout_ms" when context.Description.RelativePath?.StartsWith("tasks", StringComparison.Ordinal) == true:
                        (schema.Minimum, schema.Maximum) = ("0", Text(tasks.MaxWaitMilliseconds));
                        break;
                    case "prefix" when context.Description.RelativePath?.StartsWith("ml", StringComparison.Ordinal) == true:
                        (schema.MinLength, schema.Pattern) = (1, PrefixPattern);
                        break;
                    case "last_event_id" or "Last-Event-ID" when context.Description.RelativePath == "state/changes":
                        (schema.MaxLength, schema.Pattern) = (1024, "^[A-Za-z0-9_-]+$");
                        break;
                    case "prefix" when context.Description.RelativePath == "state/changes":
                        (schema.MinLength, schema.Description) =
                            (1, "Required for the feed; without it, the route reads the key 'changes'.");
                        break;
                    case "last_event_id" or "Last-Event-ID":
                        schema.Minimum = "0";
                        break;
                }
            }
            return Task.CompletedTask;
        })
        .AddSchemaTransformer((schema, context, _) =>
        {
            var type = context.JsonTypeInfo.Type;
            if (context.JsonPropertyInfo is not null || schema.Properties is not { } properties) return Task.CompletedTask;
            var services = context.ApplicationServices;
            if (type == typeof(CallRequest))
            {
                var cluster = services.GetRequiredService<IOptions<ClusterOptions>>().Value;
                if (Property(properties, "timeout_ms") is OpenApiSchema timeout)
                {
                    (timeout.Minimum, timeout.Maximum) = ("1", Text(cluster.MaxRpcTimeoutMs));
                    timeout.Default = JsonValue.Create(cluster.DefaultRpcTimeoutMs);
                }
            }
            else if (type == typeof(MlCachedRequest))
            {
                if (Property(properties, "ttl_seconds") is OpenApiSchema ttl) ttl.Minimum = "1";
                if (Property(properties, "cache_prefix") is OpenApiSchema prefix)
                    (prefix.MinLength, prefix.Pattern, prefix.Default) = (1, PrefixPattern, JsonValue.Create("ml"));
                // The input is any JSON value but null: it is what the hook runs on and what the cache key is made from.
                if (Property(properties, "input") is OpenApiSchema input)
                    input.Not = new OpenApiSchema { Type = JsonSchemaType.Null };
                schema.Required = new HashSet<string> { "input" };
            }
            else if (type == typeof(MlCacheLookupRequest) || type == typeof(MlCacheStoreRequest) || type == typeof(MlCacheReleaseRequest)
                     || type == typeof(MlCacheLookupResponse))
            {
                DescribeMlCacheLookup(type, properties, schema);
            }
            else if (type == typeof(TokenRequest))
            {
                DescribeTokenRequest(properties, services);
                schema.Required = new HashSet<string> { "scopes" };
            }
            else if (type == typeof(TokenResponse))
            {
                if (Property(properties, "token") is OpenApiSchema token)
                    token.Description = "A compact JWT (HMAC-SHA256): send it as 'Authorization: Bearer <token>', or as ?access_token= " +
                                        "on GET /pubsub/{topic} and GET /ws/{path}.";
                if (Property(properties, "expires_at") is OpenApiSchema expires)
                    expires.Description = "When the token stops being accepted; a stream it opened ends then.";
                schema.Required = new HashSet<string> { "token", "expires_at" };
            }
            else if (type == typeof(HookCall))
            {
                // Any names, any JSON values: said outright, so generators do not read an object without properties as empty.
                if (Property(properties, "kwargs") is { } kwargs) kwargs.AdditionalProperties = new OpenApiSchema();
            }
            else if (type == typeof(StateMultiRequest))
            {
                var hornbeam = services.GetRequiredService<IOptions<HornbeamOptions>>().Value;
                if (Property(properties, "keys") is OpenApiSchema keys)
                {
                    keys.MaxItems = hornbeam.MaxMultiKeys;
                    keys.Type = JsonSchemaType.Array;
                    keys.Items = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = hornbeam.MaxKeyBytes };
                }
                schema.Required = new HashSet<string> { "keys" };
            }
            else if (type == typeof(HttpFunctionRegistration) || type == typeof(HttpHookRegistration))
            {
                if (Property(properties, "url") is OpenApiSchema url)
                {
                    // Absolute http(s), no user:password@ and no #fragment; scheme, host and port on Hornbeam:Webhooks:AllowedHosts.
                    (url.Type, url.Format, url.Pattern) = (JsonSchemaType.String, "uri", "^[Hh][Tt][Tt][Pp][Ss]?://[^/@#?]+(/[^#]*)?$");
                    url.Description = "An absolute http or https URL without credentials or fragment, whose scheme, host and port " +
                                      "Hornbeam:Webhooks:AllowedHosts allows (403 otherwise).";
                }
                schema.Required = new HashSet<string> { "url" };
            }
            return Task.CompletedTask;
        });
}
