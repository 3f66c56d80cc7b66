using System.Net;
using System.Net.Sockets;
using Garnet;

namespace Hornbeam.Api.Hosting;

/// <summary>
/// With no <c>ConnectionStrings:Redis</c>, Hornbeam runs on an in-process Garnet server so that a newcomer with only the
/// .NET SDK gets a working API. It is single-node and keeps nothing across restarts.
/// </summary>
public static class EmbeddedRedis
{
    public static WebApplicationBuilder UseEmbeddedRedisWhenUnconfigured(this WebApplicationBuilder builder)
    {
        if (!string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("Redis"))) return builder;

        var port = FreeLoopbackPort();
        var server = new GarnetServer(["--bind", "127.0.0.1", "--port", port.ToString(), "--lua", "--memory", "256m", "--index", "64m"]);
        server.Start();
        builder.Configuration["ConnectionStrings:Redis"] = $"127.0.0.1:{port}";
        builder.Services.AddSingleton(new EmbeddedGarnet(server, port));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedGarnet>());
        return builder;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The running embedded Garnet server; it says so at start-up and stops with the host.</summary>
internal sealed class EmbeddedGarnet(GarnetServer server, int port) : IHostedService, IDisposable
{
    public int Port { get; } = port;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => server.Dispose();

    public static void LogNotice(ILogger logger, int port) =>
        logger.LogWarning("No ConnectionStrings:Redis is set, so Hornbeam runs on an EMBEDDED Garnet store at 127.0.0.1:{Port}: " +
                          "single node, in memory, nothing survives a restart, and no other replica can join it. " +
                          "For real use point it at Redis: ConnectionStrings__Redis=localhost:6379 dotnet run --project src/Hornbeam.Api", port);
}
