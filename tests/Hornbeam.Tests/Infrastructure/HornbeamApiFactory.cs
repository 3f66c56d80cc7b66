using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// One Hornbeam API host on a real Redis, with its own key prefix. Hosts built with the same prefix share state,
/// as replicas behind a load balancer do.
/// </summary>
public sealed class HornbeamApiFactory(string? connectionString, string prefix, IDictionary<string, string?>? settings = null,
    string? environment = null, Action<HornbeamBuilder>? configure = null)
    : WebApplicationFactory<Program>
{
    public string Prefix { get; } = prefix;

    /// <summary>A host on the shared test Redis, under a prefix of its own unless one is given.</summary>
    public static async Task<HornbeamApiFactory> StartAsync(string? prefix = null, IDictionary<string, string?>? settings = null,
        Action<HornbeamBuilder>? configure = null)
    {
        var factory = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), prefix ?? TestPrefix.New(), settings,
            configure: configure);
        // Start now and wait until it can serve, so a failure shows here and not in the first request.
        var client = factory.CreateClient();
        await Poll.UntilAsync(async () => (await client.GetAsync("/health/ready")).IsSuccessStatusCode, TimeSpan.FromSeconds(30),
            "the host is ready");
        return factory;
    }

    private static readonly Lock Building = new();

    /// <summary>
    /// One host built at a time in this process: the factory finds the host that Program's Main builds through a
    /// process-wide DiagnosticListener event, so two factories building at once (parallel test classes, or a fixture
    /// starting its nodes together) can each take the other's host, settings and all.
    /// </summary>
    protected override IHost CreateHost(IHostBuilder builder)
    {
        lock (Building) return base.CreateHost(builder);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // The embedded store starts only in Development, as for `dotnet run`; a host on a real Redis runs as Testing.
        builder.UseEnvironment(environment ?? (connectionString is null ? "Development" : "Testing"));
        var values = new Dictionary<string, string?>
        {
            ["Hornbeam:Prefix"] = Prefix,
            ["Logging:LogLevel:Default"] = "Warning",
            // Access control has its own tests; elsewhere it is off, as in Development.
            ["Hornbeam:Auth:Enabled"] = "false",
        };
        // No connection string at all means the embedded default, as for a user who sets none.
        if (connectionString is not null) values["ConnectionStrings:Redis"] = connectionString;
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) values[k] = v;
        // Host settings are read before the app's own configuration, so the embedded default sees the connection string.
        foreach (var (k, v) in values) builder.UseSetting(k, v);
        builder.ConfigureAppConfiguration(c => c.AddInMemoryCollection(values));
        // Functions and modules a test registers, as a user's Program.cs would on AddHornbeam()'s builder.
        if (configure is not null) builder.ConfigureServices(services => configure(new HornbeamBuilder(services)));
    }
}

/// <summary>Unique key prefixes, so tests never see each other's data and can run in parallel.</summary>
public static class TestPrefix
{
    public static string New() => $"test:{Guid.NewGuid():N}:";
}
