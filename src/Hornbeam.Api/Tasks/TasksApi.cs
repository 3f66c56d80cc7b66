using Hornbeam.Api.Access;
using Hornbeam.Api.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Hornbeam.Tasks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Tasks;

/// <summary>Async hook tasks over REST: the seed's await_result.</summary>
public static class TasksApi
{
    public static RouteGroupBuilder MapTasks(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/tasks").WithTags("Tasks");

        group.MapGet("/{task_id}", Await).WithName("TasksAwait").RequireScope(Scopes.Invoke)
            .WithSummary("await_result: wait up to timeout_ms (default 30000) for a task; 202 while it is still running, so wait again")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status500InternalServerError).ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    /// <summary>
    /// A failed task answers the ProblemDetails of its error, with <c>task_id</c>, <c>task_status: "failed"</c> and
    /// <c>node</c> added.
    /// </summary>
    public static async Task<Results<RawJson<TaskSucceeded>, Accepted<TaskRunning>, ProblemHttpResult>> Await(
        [FromRoute(Name = "task_id")] string taskId, IHooks hooks, IOptions<TaskOptions> options, HttpContext http,
        [FromQuery(Name = "timeout_ms")] int timeoutMs = 30_000)
    {
        var max = options.Value.MaxWaitMilliseconds;
        if (timeoutMs < 0 || timeoutMs > max)
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"timeout_ms must be between 0 and {max} (Hornbeam:Tasks:MaxWaitMilliseconds); got {timeoutMs}.");
        var task = await hooks.AwaitResultAsync(taskId, TimeSpan.FromMilliseconds(timeoutMs), http.RequestAborted);
        switch (task.Status)
        {
            case HookTaskStatus.Succeeded:
                var result = JsonAnswers.Checked(task.Result!.Value, $"The hook of task '{task.TaskId}'");
                return new RawJson<TaskSucceeded>(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("task_id"u8, task.TaskId);
                    w.WriteString("status"u8, "succeeded"u8);
                    w.WritePropertyName("result"u8);
                    result.WriteTo(w);
                    w.WriteEndObject();
                });
            case HookTaskStatus.Failed:
                var (status, type, title) = ProblemTypes.For(task.ErrorKind ?? HornbeamError.HandlerFailed);
                return TypedResults.Problem(statusCode: status, type: type, title: title, detail: task.Error,
                    extensions: new Dictionary<string, object?>
                    {
                        ["task_id"] = task.TaskId,
                        ["task_status"] = "failed",
                        ["node"] = task.Node
                    });
            default:
                return TypedResults.Accepted($"/tasks/{task.TaskId}", new TaskRunning(task.TaskId, "running", task.Node));
        }
    }
}

/// <summary>A task that finished with a result.</summary>
public sealed record TaskSucceeded(string TaskId, string Status, System.Text.Json.JsonElement Result);

/// <summary>A task still running at the end of the wait; wait again at the same URL.</summary>
public sealed record TaskRunning(string TaskId, string Status, string Node);
