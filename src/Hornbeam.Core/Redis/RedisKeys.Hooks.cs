using StackExchange.Redis;

namespace Hornbeam.Redis;

public sealed partial class RedisKeys
{
    /// <summary>The hash of HTTP-registered hooks: field = app_path, value = JSON <c>{"url": ...}</c>.</summary>
    public RedisKey HttpHooks => Prefix + "hooks:http";

    /// <summary>A task's hash: status, node, app_path, action, result or error, created and updated times.</summary>
    public RedisKey Task(string id) => $"{Prefix}{{task:{id}}}";

    /// <summary>A running task's lease, kept alive by the node running it; gone means that node died. Shares the task's hash tag.</summary>
    public RedisKey TaskLease(string id) => $"{Prefix}{{task:{id}}}:lease";

    /// <summary>Where a task's end is announced, so waiters wake at once.</summary>
    public RedisChannel TaskChannel(string id) => RedisChannel.Literal($"{Prefix}task:{id}:done");

    /// <summary>Where a hook running on another node publishes a relayed stream's numbered chunks.</summary>
    public RedisChannel HookStreamChunks(string id) => RedisChannel.Literal($"{Prefix}hookstream:{id}");

    /// <summary>Where the caller of a relayed stream acknowledges chunks it has read, or cancels.</summary>
    public RedisChannel HookStreamControl(string id) => RedisChannel.Literal($"{Prefix}hookstream:{id}:control");
}
