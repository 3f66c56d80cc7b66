using System.Text.Json;
using System.Text.Json.Serialization;
using Hornbeam.Api.State;

namespace Hornbeam.Api.Json;

/// <summary>Source-generated JSON for every request and response type, in snake_case as the seed names things.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StateEntry))]
[JsonSerializable(typeof(CounterValue))]
[JsonSerializable(typeof(StateMultiRequest))]
[JsonSerializable(typeof(StateValues))]
[JsonSerializable(typeof(StateKeysList))]
[JsonSerializable(typeof(StateTransactionRequest))]
[JsonSerializable(typeof(StateTransactionResults))]
[JsonSerializable(typeof(StateBulkRequest))]
[JsonSerializable(typeof(StateBulkResults))]
internal sealed partial class HornbeamJsonContext : JsonSerializerContext;
