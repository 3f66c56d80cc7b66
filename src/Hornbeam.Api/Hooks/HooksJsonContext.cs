using System.Text.Json;
using System.Text.Json.Serialization;
using Hornbeam.Api.Tasks;

namespace Hornbeam.Api.Hooks;

/// <summary>Source-generated JSON for the hooks and tasks routes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HookCall))]
[JsonSerializable(typeof(HookResult))]
[JsonSerializable(typeof(TaskAccepted))]
[JsonSerializable(typeof(HttpHookRegistration))]
[JsonSerializable(typeof(HookList))]
[JsonSerializable(typeof(StreamError))]
[JsonSerializable(typeof(TaskSucceeded))]
[JsonSerializable(typeof(TaskRunning))]
internal sealed partial class HooksJsonContext : JsonSerializerContext;
