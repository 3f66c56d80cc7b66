using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Hornbeam.Api.Access;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Api.Problems;
using Hornbeam.Hooks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Hornbeam.Api.Hooks;

/// <summary>Hooks over REST: the seed's execute, execute_async, stream, and register_hook / unregister_hook for HTTP handlers.</summary>
public static class HooksApi
{
    public static RouteGroupBuilder MapHooks(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/hooks").WithTags("Hooks");

        group.MapGet("/workers", Worker).WithName("HooksWorker").RequireScope(Scopes.Admin)
            .WithSummary("A hook worker connects here with a WebSocket, registers the hooks it serves and runs the invocations the " +
                "cluster pushes to it (docs/protocol.md); Upgrade: websocket required")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/", List).WithName("HooksList").RequireScope(Scopes.Invoke)
            .WithSummary("List every hook callable from here and where it runs (C# hooks on nodes, HTTP hooks at a URL)");
        group.MapPut("/{app_path}", RegisterHttp).WithName("HooksRegisterHttp").RequireScope(Scopes.Admin)
            .WithSummary(
                "register_hook for an HTTP handler: executing action a POSTs {args, kwargs} to {url}/a; registering again replaces")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status403Forbidden)
                .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{app_path}", UnregisterHttp).WithName("HooksUnregisterHttp").RequireScope(Scopes.Admin)
            .WithSummary("unregister_hook for an HTTP handler; succeeds also when there is none")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapPost("/{app_path}/{action}", Execute).WithName("HooksExecute").RequireScope(Scopes.Invoke).AcceptsIdempotencyKey()
            .WithSummary("execute: run an action of a hook, wherever it lives, and answer its result")
            .ProducesHookProblems();
        group.MapPost("/{app_path}/{action}/async", ExecuteInBackground).WithName("HooksExecuteAsync").RequireScope(Scopes.Invoke)
            .AcceptsIdempotencyKey()
            .WithSummary("execute_async: start an action as a task; wait for it with GET /tasks/{task_id}")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{app_path}/{action}/stream", Stream).WithName("HooksStream").RequireScope(Scopes.Invoke)
            .WithSummary("stream: Server-Sent Events, one 'chunk' event per item, then 'done'; a failure mid-stream is an 'error' event")
            .ProducesHookProblems();

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    private static RouteHandlerBuilder ProducesHookProblems(this RouteHandlerBuilder route) => route
        .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status500InternalServerError).ProducesProblem(StatusCodes.Status502BadGateway)
        .ProducesProblem(StatusCodes.Status504GatewayTimeout);

    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Worker(HttpContext context, IHookWorkers workers)
    {
        if (!context.WebSockets.IsWebSocketRequest)
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, type: ProblemTypes.InvalidInput,
                title: "Invalid input", detail: "This endpoint speaks WebSocket: a hook worker connects with Upgrade: websocket.");
        // Pings both ways keep a quiet worker's connection open through proxies; a worker that stops answering is dropped.
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = workers.KeepAlive,
            KeepAliveTimeout = workers.KeepAlive,
        });
        await workers.ServeAsync(socket);
        return TypedResults.Empty;
    }

    public static async Task<Ok<HookList>> List(IHooks hooks) =>
        TypedResults.Ok(new HookList((await hooks.ListAsync()).Select(h => new HookEntry(h.AppPath, h.Kind, h.Nodes, h.Url)).ToArray()));

    public static async Task<NoContent> RegisterHttp([FromRoute(Name = "app_path")] string appPath, HttpHookRegistration registration,
        IHooks hooks)
    {
        if (string.IsNullOrWhiteSpace(registration.Url))
            throw new HornbeamException(HornbeamError.InvalidInput, "The body must be {\"url\": \"http://host:port/base\"}.");
        await hooks.RegisterHttpAsync(appPath, registration.Url);
        return TypedResults.NoContent();
    }

    public static async Task<NoContent> UnregisterHttp([FromRoute(Name = "app_path")] string appPath, IHooks hooks)
    {
        await hooks.UnregisterHttpAsync(appPath);
        return TypedResults.NoContent();
    }

    public static async Task<RawJson<HookResult>> Execute([FromRoute(Name = "app_path")] string appPath, string action, HookCall? call,
        IHooks hooks, HttpContext http)
    {
        var result = JsonAnswers.Checked(await hooks.ExecuteAsync(appPath, action, Args(call), http.RequestAborted),
            $"Hook '{appPath}' action '{action}'");
        return new RawJson<HookResult>(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("result"u8);
            result.WriteTo(w);
            w.WriteEndObject();
        });
    }

    public static async Task<Accepted<TaskAccepted>> ExecuteInBackground([FromRoute(Name = "app_path")] string appPath, string action,
        HookCall? call, IHooks hooks)
    {
        var id = await hooks.ExecuteInBackgroundAsync(appPath, action, Args(call));
        return TypedResults.Accepted($"/tasks/{id}", new TaskAccepted(id));
    }

    /// <summary>
    /// The first chunk is awaited before answering, so an unknown hook or a bad argument is still a plain
    /// ProblemDetails.
    /// </summary>
    public static async Task<ServerSentEventsResult<string>> Stream([FromRoute(Name = "app_path")] string appPath, string action,
        HookCall? call, IHooks hooks, HttpContext http, ILoggerFactory loggers)
    {
        var ct = http.RequestAborted;
        var chunks = hooks.StreamAsync(appPath, action, Args(call), ct).GetAsyncEnumerator(ct);
        bool any;
        try
        {
            any = await chunks.MoveNextAsync();
        }
        catch
        {
            await chunks.DisposeAsync();
            throw;
        }
        return TypedResults.ServerSentEvents(Events(chunks, any, appPath, action, loggers.CreateLogger(typeof(HooksApi)), ct));
    }

    private static async IAsyncEnumerable<SseItem<string>> Events(IAsyncEnumerator<JsonElement> chunks, bool more, string appPath,
        string action, ILogger logger, [EnumeratorCancellation] CancellationToken ct)
    {
        var count = 0;
        try
        {
            while (more)
            {
                if (JsonAnswers.Problem(chunks.Current) is { } problem)
                {
                    yield return new SseItem<string>(ErrorEvent(new HornbeamException(HornbeamError.BadGateway,
                        $"Hook '{appPath}' action '{action}' streamed a chunk of JSON that {problem}"), appPath, action, logger), "error");
                    yield break;
                }
                yield return new SseItem<string>(chunks.Current.GetRawText(), "chunk");
                count++;
                string? error = null;
                try
                {
                    more = await chunks.MoveNextAsync();
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    yield break;
                }
                catch (Exception e)
                {
                    error = ErrorEvent(e, appPath, action, logger);
                }
                if (error is not null)
                {
                    yield return new SseItem<string>(error, "error");
                    yield break;
                }
            }
            yield return new SseItem<string>($"{{\"chunks\":{count}}}", "done");
        }
        finally
        {
            await chunks.DisposeAsync();
        }
    }

    private static string ErrorEvent(Exception e, string appPath, string action, ILogger logger)
    {
        var (status, type, _) = e is HornbeamException h ? ProblemTypes.For(h.Error) : ProblemTypes.For(HornbeamError.HandlerFailed);
        var detail = e is HornbeamException ? e.Message : $"Hook '{appPath}' action '{action}' failed: {e.Message}";
        if (e is not HornbeamException) logger.LogError(e, "Stream of hook {AppPath} action {Action} failed", appPath, action);
        return JsonSerializer.Serialize(new StreamError(type, status, detail), HooksJsonContext.Default.StreamError);
    }

    private static HookArgs Args(HookCall? call) =>
        new(call?.Args ?? [], call?.Kwargs ?? new Dictionary<string, JsonElement>());
}

/// <summary>The arguments of an action: positional <c>args</c> and named <c>kwargs</c>; both optional.</summary>
public sealed record HookCall(JsonElement[]? Args = null, Dictionary<string, JsonElement>? Kwargs = null);

/// <summary>What the action answered.</summary>
public sealed record HookResult(JsonElement Result);

/// <summary>An async task was started; its state is at <c>/tasks/{task_id}</c>.</summary>
public sealed record TaskAccepted(string TaskId);

/// <summary>Where an HTTP hook's actions are served: action <c>a</c> is <c>{url}/a</c>.</summary>
public sealed record HttpHookRegistration(string? Url);

/// <summary>Every hook callable from here.</summary>
public sealed record HookList(IReadOnlyList<HookEntry> Hooks);

/// <summary>
/// A hook: <c>kind</c> is function, class, instance or http; <c>nodes</c> have a C# hook; <c>url</c> is an HTTP hook's
/// base.
/// </summary>
public sealed record HookEntry(string AppPath, string Kind, IReadOnlyList<string> Nodes, string? Url);

/// <summary>The data of a stream's <c>error</c> event, shaped like a ProblemDetails.</summary>
public sealed record StreamError(string Type, int Status, string Detail);
