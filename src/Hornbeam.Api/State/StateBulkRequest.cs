using System.Text.Json;

namespace Hornbeam.Api.State;

/// <summary>Keys and the JSON values to set under them.</summary>
public sealed record StateBulkRequest(Dictionary<string, JsonElement> Values);
