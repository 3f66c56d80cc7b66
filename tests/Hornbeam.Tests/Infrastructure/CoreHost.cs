using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>Hornbeam.Core embedded in a plain generic host, as a C# user would run it, on the shared test Redis by default.</summary>
public sealed class CoreHost : IAsyncDisposable
{
    private readonly IHost _host;

    private CoreHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    /// <summary>A host on <paramref name="redis"/> (a connection string), or on the shared test Redis when it is null.</summary>
    public static async Task<CoreHost> StartAsync(string? prefix = null, Action<HornbeamBuilder>? configure = null, string? redis = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = redis ?? await RedisServer.ConnectionStringAsync(),
            ["Hornbeam:Prefix"] = prefix ?? TestPrefix.New(),
        });
        var hornbeam = builder.Services.AddHornbeam();
        configure?.Invoke(hornbeam);
        var host = builder.Build();
        await host.StartAsync();
        return new CoreHost(host);
    }

    public T Get<T>() where T : notnull => _host.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
