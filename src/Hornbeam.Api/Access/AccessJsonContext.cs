using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hornbeam.Api.Access;

/// <summary>Source-generated JSON for the token route's request and answer, snake_case like the rest of the API.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenResponse))]
internal sealed partial class AccessJsonContext : JsonSerializerContext;
