using System.Text.Json;
using System.Text.Json.Serialization;
using Hornbeam.Api.Access;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Cluster;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Cluster;

/// <summary>Nodes and RPC over REST: the seed's node, nodes, rpc_call and rpc_cast.</summary>
public static class ClusterApi
{
    public static RouteGroupBuilder MapCluster(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("").WithTags("Cluster").RequireScope(Scopes.Invoke);

        group.MapGet("/node", Node).WithName("Node")
            .WithSummary("node: this node's name");
        group.MapGet("/nodes", Nodes).WithName("Nodes")
            .WithSummary("nodes: the other live nodes, with when they started, were last seen and what they offer")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/rpc/{node}/{module}/{function}", Call).WithName("RpcCall").AcceptsIdempotencyKey()
            .WithSummary("rpc_call: run module:function on a node with JSON arguments and wait for its result")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
                .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable).ProducesProblem(StatusCodes.Status504GatewayTimeout);
        group.MapPost("/rpc/{node}/{module}/{function}/cast", Cast).WithName("RpcCast").AcceptsIdempotencyKey()
            .WithSummary("rpc_cast: hand module:function to a node and return at once (202)")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    public static Ok<NodeName> Node(NodeIdentity node) => TypedResults.Ok(new NodeName(node.Name));

    public static async Task<Ok<NodeList>> Nodes(IClusterPresence presence, NodeIdentity node)
    {
        var live = await presence.LiveNodesAsync();
        return TypedResults.Ok(new NodeList(node.Name, live.Where(n => n.Node != node.Name).ToArray()));
    }

    public static async Task<Ok<CallResult>> Call(string node, string module, string function, CallRequest? request,
        IRpcClient rpc, IOptions<ClusterOptions> options, CancellationToken cancellationToken)
    {
        var timeout = options.Value.ResolveTimeout(request?.TimeoutMs);
        var result = await rpc.CallAsync(node, module, function, request?.Args ?? [], timeout, cancellationToken);
        return TypedResults.Ok(new CallResult(JsonAnswers.Checked(result, $"Function {module}.{function} on node '{node}'")));
    }

    public static async Task<Accepted> Cast(string node, string module, string function, CallRequest? request, IRpcClient rpc,
        CancellationToken cancellationToken)
    {
        await rpc.CastAsync(node, module, function, request?.Args ?? [], cancellationToken);
        return TypedResults.Accepted((string?)null);
    }
}

/// <summary>This node's name.</summary>
public sealed record NodeName(string Node);

/// <summary>This node's name and the other live nodes.</summary>
public sealed record NodeList(string Self, IReadOnlyList<NodeInfo> Nodes);

/// <summary>The arguments of a call, by position, and how long to wait for it (default 5000 ms).</summary>
public sealed record CallRequest(JsonElement[]? Args = null, int? TimeoutMs = null);

/// <summary>What the function answered.</summary>
public sealed record CallResult(JsonElement Result);

/// <summary>Source-generated JSON for the cluster and function routes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(NodeName))]
[JsonSerializable(typeof(NodeList))]
[JsonSerializable(typeof(CallRequest))]
[JsonSerializable(typeof(CallResult))]
[JsonSerializable(typeof(Functions.FunctionList))]
[JsonSerializable(typeof(Functions.HttpFunctionRegistration))]
internal sealed partial class ClusterJsonContext : JsonSerializerContext;
