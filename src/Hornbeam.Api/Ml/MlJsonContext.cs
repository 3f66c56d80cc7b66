using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hornbeam.Api.Ml;

/// <summary>Source-generated JSON for the inference cache's requests and responses.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(MlCacheStatsResponse))]
[JsonSerializable(typeof(MlCacheCleared))]
[JsonSerializable(typeof(MlCachedRequest))]
[JsonSerializable(typeof(MlCachedResponse))]
[JsonSerializable(typeof(MlCacheLookupRequest))]
[JsonSerializable(typeof(MlCacheLookupResponse))]
[JsonSerializable(typeof(MlCacheStoreRequest))]
[JsonSerializable(typeof(MlCacheStored))]
[JsonSerializable(typeof(MlCacheReleaseRequest))]
[JsonSerializable(typeof(MlCacheReleased))]
internal sealed partial class MlJsonContext : JsonSerializerContext;
