using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Hornbeam.Cluster;

/// <summary>This process's node name (the seed's <c>node()</c>) and when it started.</summary>
public sealed class NodeIdentity
{
    /// <summary>Takes <see cref="HornbeamOptions.NodeName"/> when set, else a readable name unique per process.</summary>
    public NodeIdentity(IOptions<HornbeamOptions> options)
    {
        var configured = options.Value.NodeName;
        Name = string.IsNullOrWhiteSpace(configured)
            ? $"hornbeam-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}@{Environment.MachineName}"
            : configured.Trim();
    }

    /// <summary>The node's name, e.g. <c>hornbeam-3f9a1c@host</c>.</summary>
    public string Name { get; }

    /// <summary>When this node started.</summary>
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <inheritdoc />
    public override string ToString() => Name;
}
