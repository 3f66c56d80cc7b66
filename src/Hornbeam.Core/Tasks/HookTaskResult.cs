using System.Text.Json;

namespace Hornbeam.Tasks;

/// <summary>Where an async task stands.</summary>
public enum HookTaskStatus
{
    /// <summary>Started and not finished yet.</summary>
    Running,
    /// <summary>Finished with a result.</summary>
    Succeeded,
    /// <summary>Finished with an error, or its node died before it finished.</summary>
    Failed,
}

/// <summary>
/// A task's state as the seed's <c>await_result</c> sees it; <see cref="Result"/> is set when it succeeded,
/// <see cref="Error"/> when it failed.
/// </summary>
public sealed record HookTaskResult(string TaskId, HookTaskStatus Status, string Node, JsonElement? Result = null,
    HornbeamError? ErrorKind = null, string? Error = null)
{
    /// <summary>The result when the task succeeded; otherwise throws what the seed's <c>await_result</c> raises.</summary>
    public JsonElement GetResultOrThrow() => Status switch
    {
        HookTaskStatus.Succeeded => Result!.Value,
        HookTaskStatus.Failed => throw new HornbeamException(ErrorKind ?? HornbeamError.HandlerFailed, Error ?? "The task failed."),
        _ => throw new HornbeamException(HornbeamError.Timeout, $"Task '{TaskId}' is still running; wait again later."),
    };
}
