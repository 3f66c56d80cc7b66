using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Cluster;

/// <summary>Several API hosts on one Redis and one prefix: nodes of one cluster, with fast heartbeats.</summary>
internal static class ClusterNodes
{
    public static Dictionary<string, string?> Settings(string name, IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Hornbeam:NodeName"] = name,
            ["Hornbeam:Cluster:HeartbeatInterval"] = "00:00:00.200",
            ["Hornbeam:Cluster:NodeExpiry"] = "00:00:03",
            ["Hornbeam:Cluster:SweepInterval"] = "00:00:00.500",
        };
        foreach (var (k, v) in more ?? new Dictionary<string, string?>()) settings[k] = v;
        return settings;
    }

    public static Task<HornbeamApiFactory> StartAsync(string prefix, string name, Action<HornbeamBuilder>? configure = null,
        IDictionary<string, string?>? more = null) =>
        HornbeamApiFactory.StartAsync(prefix, Settings(name, more), configure);

    /// <summary>Waits until <paramref name="client"/>'s node lists every one of <paramref name="others"/> as live.</summary>
    public static Task UntilSeesAsync(HttpClient client, params string[] others) =>
        Poll.UntilAsync(async () =>
        {
            var nodes = await (await client.GetAsync("/nodes")).ReadJsonAsync();
            var names = nodes.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("node").GetString()).ToHashSet();
            return others.All(names.Contains);
        }, TimeSpan.FromSeconds(10), $"node sees {string.Join(", ", others)}");
}
