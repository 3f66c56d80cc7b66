namespace Hornbeam.Tests.Faults;

/// <summary>
/// The fault tests kill, freeze and restart real processes under load and some measure latency: they run one after
/// another and after the rest of this assembly, so that they do not starve each other of the machine's cores (the
/// capability tests, another assembly, may run beside them; the deadlines' slack allows for that).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultSuite
{
    public const string Name = "Faults";

    /// <summary>Concurrent clients, round-robin over the replicas.</summary>
    public const int Clients = 12;

    /// <summary>Hornbeam replicas, each a process of its own.</summary>
    public const int Replicas = 3;

    /// <summary>
    /// Increments acknowledged before a fault and again after it, so that the fault hits a running load and heals under it.
    /// </summary>
    public const int Acknowledgements = 300;

    /// <summary>The load stops by itself after this, whatever happens to the test.</summary>
    public static readonly TimeSpan LoadAtMost = TimeSpan.FromSeconds(60);

    /// <summary>Bound of each wait in a fault test.</summary>
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
}
