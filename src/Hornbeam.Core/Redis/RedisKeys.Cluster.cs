using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    /// <summary>Sorted set of node names scored by the unix ms at which each node's presence expires.</summary>
    public RedisKey ClusterNodes => $"{Prefix}{{cluster}}:nodes";

    /// <summary>Hash of node name to the node's info JSON; changed together with <see cref="ClusterNodes"/>.</summary>
    public RedisKey ClusterNodeInfo => $"{Prefix}{{cluster}}:info";

    /// <summary>Channel announcing <c>join</c> and <c>leave</c> of nodes, so peers need not wait for a heartbeat.</summary>
    public RedisChannel ClusterEvents => RedisChannel.Literal($"{Prefix}cluster:events");

    /// <summary>
    /// The stream of RPC requests addressed to <paramref name="node"/> that it has not finished, read by its consumer
    /// group.
    /// </summary>
    public RedisKey RpcRequests(string node) => $"{Prefix}{{rpc:{node}}}:requests";

    /// <summary>The channel whose message tells <paramref name="node"/> that its request stream has new entries.</summary>
    public RedisChannel RpcDoorbell(string node) => RedisChannel.Literal($"{Prefix}rpc:{node}:doorbell");

    /// <summary>The channel on which <paramref name="node"/> receives the replies to its calls.</summary>
    public RedisChannel RpcReplies(string node) => RedisChannel.Literal($"{Prefix}rpc:{node}:replies");

    /// <summary>Hash of function name to the JSON registration of an HTTP-registered function.</summary>
    public RedisKey HttpFunctions => $"{Prefix}functions:http";
}
