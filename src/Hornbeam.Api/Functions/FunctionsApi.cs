using Hornbeam.Api.Access;
using Hornbeam.Api.Cluster;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Cluster;
using Hornbeam.Functions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Functions;

/// <summary>Registered functions over REST: the seed's call and cast, and HTTP endpoints registered at run time.</summary>
public static class FunctionsApi
{
    public static RouteGroupBuilder MapFunctions(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/functions").WithTags("Functions");

        group.MapGet("/", List).WithName("FunctionsList").RequireScope(Scopes.Invoke)
            .WithSummary("List the functions that can be called: C# functions with the live nodes offering them, and HTTP functions");
        group.MapPost("/{name}/call", Call).WithName("FunctionCall").AcceptsIdempotencyKey().RequireScope(Scopes.Invoke)
            .WithSummary("call: run a registered function wherever it lives and wait for its result")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
                .ProducesProblem(StatusCodes.Status500InternalServerError)
            .ProducesProblem(StatusCodes.Status502BadGateway).ProducesProblem(StatusCodes.Status504GatewayTimeout);
        group.MapPost("/{name}/cast", Cast).WithName("FunctionCast").AcceptsIdempotencyKey().RequireScope(Scopes.Invoke)
            .WithSummary("cast: start a registered function in the background and return at once (202); failures are logged")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}", Register).WithName("FunctionRegisterHttp").RequireScope(Scopes.Admin)
            .WithSummary("Register (or replace) an HTTP function: calls POST {\"args\": [...]} to its url and answer the JSON it returns")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{name}", Unregister).WithName("FunctionUnregisterHttp").RequireScope(Scopes.Admin)
            .WithSummary("Remove an HTTP function")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);

        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static async Task<Ok<FunctionList>> List(IFunctions functions) => TypedResults.Ok(new FunctionList(await functions.ListAsync()));

    public static async Task<Ok<CallResult>> Call(string name, CallRequest? request, IFunctions functions, IOptions<ClusterOptions> options,
        CancellationToken cancellationToken)
    {
        var timeout = options.Value.ResolveTimeout(request?.TimeoutMs);
        var result = await functions.CallAsync(name, request?.Args ?? [], timeout, cancellationToken);
        return TypedResults.Ok(new CallResult(JsonAnswers.Checked(result, $"Function '{name}'")));
    }

    public static async Task<Accepted> Cast(string name, CallRequest? request, IFunctions functions, CancellationToken cancellationToken)
    {
        await functions.CastAsync(name, request?.Args ?? [], cancellationToken);
        return TypedResults.Accepted((string?)null);
    }

    public static async Task<NoContent> Register(string name, HttpFunctionRegistration registration, IFunctions functions)
    {
        await functions.RegisterHttpAsync(name, registration.Url);
        return TypedResults.NoContent();
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Unregister(string name, IFunctions functions)
    {
        if (await functions.UnregisterHttpAsync(name)) return TypedResults.NoContent();
        return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, type: Problems.ProblemTypes.NotFound,
            title: "Not found", detail: $"No HTTP function is registered under '{name}'.");
    }
}

/// <summary>Every callable function and where it runs.</summary>
public sealed record FunctionList(IReadOnlyList<FunctionDescription> Functions);

/// <summary>The endpoint an HTTP function calls.</summary>
public sealed record HttpFunctionRegistration(string? Url);
