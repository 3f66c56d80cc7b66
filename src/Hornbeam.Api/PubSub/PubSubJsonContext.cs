using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hornbeam.Api.PubSub;

/// <summary>Source-generated JSON for pub/sub's request and response types, snake_case like the rest of the API.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(PublishResponse))]
[JsonSerializable(typeof(PubSubTopicList))]
[JsonSerializable(typeof(PubSubSubscribed))]
internal sealed partial class PubSubJsonContext : JsonSerializerContext;
