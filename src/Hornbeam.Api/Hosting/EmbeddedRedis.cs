#if HORNBEAM_EMBEDDED_STORE
using System.Net;
using System.Net.Sockets;
using Garnet;
#endif

namespace Hornbeam.Api.Hosting;

/// <summary>
/// With no <c>ConnectionStrings:Redis</c> in Development, Hornbeam runs on an in-process Garnet server so that a newcomer
/// with only the .NET SDK gets a working API from <c>dotnet run</c>. It is single-node and keeps nothing across restarts,
/// so any other environment must name a real Redis: there the host does not start without one.
/// </summary>
public static class EmbeddedRedis
{
    /// <summary>The one line a host outside Development logs when it has no connection string, before it exits.</summary>
    internal const string MissingConnectionString =
        "No ConnectionStrings:Redis is set. Outside Development Hornbeam needs a real Redis: set ConnectionStrings__Redis=host:6379 " +
        "(or Sentinels: ConnectionStrings__Redis=sentinel1:26379,sentinel2:26379,serviceName=mymaster). " +
        "The embedded in-memory store is only for `dotnet run` in Development (ASPNETCORE_ENVIRONMENT=Development).";

    private const string NotInThisBuild =
        "No ConnectionStrings:Redis is set, and this build has no embedded store (it was built with -p:HornbeamEmbeddedStore=false, " +
        "as the production image is): set ConnectionStrings__Redis=host:6379.";

    /// <summary>
    /// True when the host can go on: a connection string is set, or this is Development and the embedded store has started.
    /// Otherwise logs <see cref="MissingConnectionString"/> and answers false, so Program.cs exits with a non-zero code
    /// instead of an unhandled exception.
    /// </summary>
    public static bool UseRedisOrEmbeddedInDevelopment(this WebApplicationBuilder builder)
    {
        if (!string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("Redis"))) return true;
        if (builder.Environment.IsDevelopment() && StartEmbedded(builder)) return true;
        // No host and so no logging yet: a console logger with the app's own log settings says it once.
        using var logging = LoggerFactory.Create(l => l.AddConfiguration(builder.Configuration.GetSection("Logging")).AddConsole());
        logging.CreateLogger("Hornbeam.Api.Hosting.EmbeddedRedis")
            .LogCritical(builder.Environment.IsDevelopment() ? NotInThisBuild : MissingConnectionString);
        return false;
    }

#if HORNBEAM_EMBEDDED_STORE
    private static bool StartEmbedded(WebApplicationBuilder builder)
    {
        var port = FreeLoopbackPort();
        var server = new GarnetServer(["--bind", "127.0.0.1", "--port", port.ToString(), "--lua", "--memory", "256m", "--index", "64m"]);
        server.Start();
        builder.Configuration["ConnectionStrings:Redis"] = $"127.0.0.1:{port}";
        builder.Services.AddSingleton(new EmbeddedGarnet(server, port));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedGarnet>());
        return true;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
#else
    private static bool StartEmbedded(WebApplicationBuilder builder) => false;
#endif
}

/// <summary>The running embedded Garnet server; it says so at start-up and stops with the host.</summary>
internal sealed class EmbeddedGarnet(IDisposable server, int port) : IHostedService, IDisposable
{
    public int Port { get; } = port;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => server.Dispose();

    public static void LogNotice(ILogger logger, int port) =>
        logger.LogWarning("No ConnectionStrings:Redis is set, so this Development host runs on an EMBEDDED Garnet store at " +
            "127.0.0.1:{Port}: single node, in memory, nothing survives a restart, and no other replica can join it. " +
            "For real use point it at Redis: ConnectionStrings__Redis=localhost:6379 dotnet run --project src/Hornbeam.Api", port);
}
