using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Hornbeam.Api.OpenApi;

/// <summary>
/// The state routes' conditional-request headers: the ETag and remaining lifetime GET answers, the ETag a PUT answers,
/// and what If-Match, If-None-Match and ttl_seconds mean where they are taken.
/// </summary>
internal static class OpenApiStateHeaders
{
    private const string ETag = "StateETag";
    private const string Ttl = "StateTtlSeconds";

    public static OpenApiOptions AddStateHeaders(this OpenApiOptions options) => options.AddDocumentTransformer((document, _, _) =>
    {
        document.Components ??= new OpenApiComponents();
        document.Components.Headers ??= new Dictionary<string, IOpenApiHeader>();
        document.Components.Headers[ETag] = new OpenApiHeader
        {
            Description = "The value's entity tag: the SHA-1 of its stored JSON, quoted. Send it back as If-Match to write only if " +
                          "nobody changed the value since.",
            Required = true,
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^\"[0-9a-f]{40}\"$" },
        };
        document.Components.Headers[Ttl] = new OpenApiHeader
        {
            Description = "Seconds the key has left, rounded up; absent when it has no lifetime.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
        };
        foreach (var operation in OpenApiHeadersAndLinks.Operations(document))
        {
            switch (operation.OperationId)
            {
                case "StateGet":
                    Header(operation, "200", "ETag", ETag, document);
                    Header(operation, "200", Api.State.StateApi.TtlHeader, Ttl, document);
                    break;
                case "StateSet":
                    Header(operation, "204", "ETag", ETag, document);
                    Describe(operation, "If-Match", "Store only if the key's ETag is one of these (or, with *, if the key exists); " +
                                                    "else 412 and nothing changes. A weak ETag (W/) never matches.");
                    Describe(operation, "If-None-Match", "* stores only if the key is absent (create only); ETags store only if the " +
                                                         "key's is none of them. Else 412 and nothing changes.");
                    Describe(operation, "ttl_seconds", "The key's lifetime in seconds. Without it the key has none (a lifetime it had " +
                                                       "ends), as after Redis's SET.");
                    Answer(operation, "412", "The If-Match or If-None-Match condition does not hold; nothing was changed " +
                                             "(urn:hornbeam:problem:precondition-failed).");
                    break;
                case "StateDelete":
                    Describe(operation, "If-Match", "Delete only if the key's ETag is one of these (or, with *, if it exists); else " +
                                                    "412 and nothing changes.");
                    Answer(operation, "412", "The key is absent or its ETag is not one If-Match names; nothing was deleted " +
                                             "(urn:hornbeam:problem:precondition-failed).");
                    break;
                case "StateIncr" or "StateDecr":
                    Describe(operation, "ttl_seconds", "Gives the counter this lifetime in seconds when this call creates it; an " +
                                                       "existing counter keeps its lifetime (a fixed-window rate limit in one call).");
                    break;
                case "StateBulkSet":
                    Describe(operation, "ttl_seconds", "Gives every key set this lifetime in seconds.");
                    break;
                case "StateTransaction":
                    Answer(operation, "400", "Invalid input (urn:hornbeam:problem:invalid-input): a malformed operation, or keys " +
                                             "that are not in one hash slot (give them one hash tag, e.g. {cart:42}:items).");
                    Answer(operation, "409", "An incr of a value that is not a 64-bit integer, or an overflow; nothing was changed " +
                                             "(urn:hornbeam:problem:conflict).");
                    Answer(operation, "412", "An operation's if_match does not hold; the detail names it; nothing was changed " +
                                             "(urn:hornbeam:problem:precondition-failed).");
                    break;
            }
        }
        return Task.CompletedTask;
    });

    private static void Header(OpenApiOperation operation, string status, string name, string component, OpenApiDocument document)
    {
        if (operation.Responses?.TryGetValue(status, out var found) != true || found is not OpenApiResponse response) return;
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeaderReference(component, document);
    }

    private static void Describe(OpenApiOperation operation, string parameter, string description)
    {
        foreach (var found in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
            if (found.Name == parameter) found.Description = description;
    }

    private static void Answer(OpenApiOperation operation, string status, string description)
    {
        if (operation.Responses?.TryGetValue(status, out var found) == true && found is OpenApiResponse response)
            response.Description = description;
    }
}
