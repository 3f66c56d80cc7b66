using System.Text.Json;

namespace Hornbeam.Cluster;

/// <summary>
/// The modules this node offers to RPC: named groups of functions. Every node has the built-in module
/// <c>hornbeam</c> (<c>ping</c>, <c>node_info</c>); functions registered with <c>AddFunction</c> form the module <c>functions</c>.
/// </summary>
public sealed class RpcModules
{
    /// <summary>The built-in module every node offers.</summary>
    public const string BuiltInModule = "hornbeam";

    /// <summary>The module holding the functions registered with <c>AddFunction</c>.</summary>
    public const string FunctionsModule = "functions";

    private readonly Dictionary<string, Dictionary<string, RpcFunction>> _modules = new(StringComparer.Ordinal);
    // Functions that come and go while the node runs (hooks served by a connected worker), beside the fixed ones.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Module, string Name), RpcFunction> _dynamic = new();
    private readonly NodeIdentity _node;

    internal RpcModules(IEnumerable<RpcFunctionRegistration> registrations, NodeIdentity node)
    {
        _node = node;
        Add(BuiltInModule, "ping",
            new RpcFunction($"{BuiltInModule}:ping", (_, _) => ValueTask.FromResult(JsonSerializer.SerializeToElement("pong"))));
        Add(BuiltInModule, "node_info", new RpcFunction($"{BuiltInModule}:node_info",
            (_, _) => ValueTask.FromResult(JsonSerializer.SerializeToElement(Describe(DateTimeOffset.UtcNow)))));
        foreach (var r in registrations) Add(r.Module, r.Name, r.Function);
    }

    private void Add(string module, string name, RpcFunction function)
    {
        if (!_modules.TryGetValue(module, out var functions)) _modules[module] = functions = new(StringComparer.Ordinal);
        if (!functions.TryAdd(name, function))
            throw new InvalidOperationException($"'{name}' is registered twice in module '{module}'; each name may be registered once.");
    }

    /// <summary>The function, or null when this node has no such module or function.</summary>
    public RpcFunction? Find(string module, string function) =>
        _modules.TryGetValue(module, out var functions) && functions.TryGetValue(function, out var f) ? f
        : _dynamic.TryGetValue((module, function), out var d) ? d : null;

    /// <summary>
    /// Offers a function until <see cref="RemoveDynamic"/>; false when the name is taken. Presence advertises it from its
    /// next heartbeat.
    /// </summary>
    internal bool TryAddDynamic(string module, string function, RpcFunction handler) =>
        (!_modules.TryGetValue(module, out var functions) || !functions.ContainsKey(function))
        && _dynamic.TryAdd((module, function), handler);

    internal void RemoveDynamic(string module, string function) => _dynamic.TryRemove((module, function), out _);

    /// <summary>Whether the function was registered at start-up (not added while running).</summary>
    internal bool IsFixed(string module, string function) =>
        _modules.TryGetValue(module, out var functions) && functions.ContainsKey(function);

    /// <summary>The function; an unknown module or function throws <see cref="HornbeamException"/> (404).</summary>
    public RpcFunction Get(string module, string function)
    {
        if (Find(module, function) is { } found) return found;
        if (!_modules.ContainsKey(module) && !_dynamic.Keys.Any(k => k.Module == module))
            throw new HornbeamException(HornbeamError.NotFound, $"node '{_node.Name}' has no module '{module}'.");
        throw new HornbeamException(HornbeamError.NotFound,
                $"module '{module}' on node '{_node.Name}' has no function '{function}'.");
    }

    /// <summary>Runs a function of this node; an unknown module or function throws <see cref="HornbeamException"/> (404).</summary>
    public ValueTask<JsonElement> InvokeAsync(string module, string function, IReadOnlyList<JsonElement> args,
        CancellationToken cancellationToken) =>
        Get(module, function).InvokeAsync(args, cancellationToken);

    /// <summary>The names of this node's C# functions.</summary>
    public IReadOnlyList<string> Functions =>
        _modules.TryGetValue(FunctionsModule, out var f) ? f.Keys.Order(StringComparer.Ordinal).ToArray() : [];

    /// <summary>This node as presence and <c>node_info</c> describe it.</summary>
    public NodeInfo Describe(DateTimeOffset now) => new(
        _node.Name,
        _node.StartedAt,
        now,
        _modules.Where(m => m.Key != FunctionsModule).SelectMany(m => m.Value.Keys.Select(f => (Module: m.Key, Name: f)))
            .Concat(_dynamic.Keys).GroupBy(f => f.Module).OrderBy(m => m.Key, StringComparer.Ordinal)
            .ToDictionary(m => m.Key, m => (IReadOnlyList<string>)m.Select(f => f.Name).Distinct().Order(StringComparer.Ordinal).ToArray()),
        Functions);

    internal static void ValidateName(string what, string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200 || name.Any(c => char.IsWhiteSpace(c) || c is '/' or ':' or '{' or '}'))
            throw new HornbeamException(HornbeamError.InvalidInput,
                $"{what} name '{name}' is not valid: use 1 to 200 characters without white space, '/', ':', '{{' or '}}'.");
    }
}

/// <summary>One function of one module, as registered at start-up.</summary>
public sealed record RpcFunctionRegistration(string Module, string Name, RpcFunction Function);

/// <summary>Adds the functions of one module.</summary>
public sealed class RpcModuleBuilder
{
    private readonly HornbeamBuilder _builder;

    internal RpcModuleBuilder(HornbeamBuilder builder, string module)
    {
        _builder = builder;
        Module = module;
    }

    /// <summary>The module's name.</summary>
    public string Module { get; }

    /// <summary>Adds a function from any delegate; its parameters are bound by position from the JSON arguments.</summary>
    public RpcModuleBuilder Add(string function, Delegate handler)
    {
        RpcModules.ValidateName("function", function);
        _builder.Services.Add(Microsoft.Extensions.DependencyInjection.ServiceDescriptor.Singleton(
            new RpcFunctionRegistration(Module, function, RpcFunction.FromDelegate(DisplayName(function), handler))));
        return this;
    }

    /// <summary>Adds a function that takes the raw JSON arguments.</summary>
    public RpcModuleBuilder AddRaw(string function, RpcFunction.Handler handler)
    {
        RpcModules.ValidateName("function", function);
        _builder.Services.Add(Microsoft.Extensions.DependencyInjection.ServiceDescriptor.Singleton(
            new RpcFunctionRegistration(Module, function, new RpcFunction(DisplayName(function), handler))));
        return this;
    }

    // Registered functions are called by their bare name; module functions as module:function, as Erlang writes them.
    private string DisplayName(string function) => Module == RpcModules.FunctionsModule ? function : $"{Module}:{function}";
}
