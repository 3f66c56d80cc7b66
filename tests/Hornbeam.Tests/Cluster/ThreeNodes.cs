using System.Runtime.CompilerServices;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Cluster;

/// <summary>
/// Three API hosts sharing one Redis under a prefix of their own, as three replicas do, each with the <c>test</c> module;
/// shared by the tests of <see cref="ClusterTests"/> that need nothing more of their nodes than to be up and to see
/// each other. Tests that stop a node, or need a node set apart, start their own.
/// </summary>
public sealed class ThreeNodes : IAsyncLifetime
{
    public const string A = "a@three";
    public const string B = "b@three";
    public const string C = "c@three";

    public static readonly string[] Names = [A, B, C];

    public string Prefix { get; } = TestPrefix.New();

    /// <summary>The hosts in the order of <see cref="Names"/>.</summary>
    public IReadOnlyList<HornbeamApiFactory> Hosts { get; private set; } = [];

    /// <summary>What <c>test/bump</c> has added up on each node, in the order of <see cref="Names"/>.</summary>
    public IReadOnlyList<StrongBox<long>> Hits { get; } = [new(), new(), new()];

    public async Task InitializeAsync()
    {
        var starting = Names.Select((name, i) => ClusterNodes.StartAsync(Prefix, name, ClusterTests.TestModule(name, Hits[i])));
        Hosts = await Task.WhenAll(starting);
        for (var i = 0; i < Names.Length; i++)
            await ClusterNodes.UntilSeesAsync(Hosts[i].CreateClient(), Names.Where((_, j) => j != i).ToArray());
    }

    public async Task DisposeAsync()
    {
        foreach (var host in Hosts) await host.DisposeAsync();
    }
}
