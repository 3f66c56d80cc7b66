using System.Runtime.InteropServices;
using System.Text.Json;

namespace Hornbeam.Api.Json;

/// <summary>
/// What a hook or function answered is passed on only when it follows <see cref="JsonRules"/>: an answer a client could
/// not read back the same way is the handler's fault, a 502, never a 500 or a silently altered value.
/// </summary>
internal static class JsonAnswers
{
    public static JsonElement Checked(JsonElement answer, string who) =>
        Problem(answer) is { } problem
            ? throw new HornbeamException(HornbeamError.BadGateway, $"{who} answered JSON that {problem}")
            : answer;

    public static string? Problem(JsonElement answer) =>
        answer.ValueKind == JsonValueKind.Undefined ? null : JsonRules.Problem(JsonMarshal.GetRawUtf8Value(answer));
}
