using Hornbeam.Cluster;
using Hornbeam.Functions;
using Hornbeam.Hooks;
using Hornbeam.Idempotency;
using Hornbeam.Ml;
using Hornbeam.PubSub;
using Hornbeam.Redis;
using Hornbeam.State;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hornbeam;

/// <summary>Registers Hornbeam's capabilities with one call.</summary>
public static class HornbeamServiceCollectionExtensions
{
    /// <summary>
    /// Adds Hornbeam: the shared Redis connection (from <c>ConnectionStrings:Redis</c>), options from the
    /// <c>Hornbeam</c> section, and every capability's services. Answers a builder for registering functions and hooks.
    /// </summary>
    public static HornbeamBuilder AddHornbeam(this IServiceCollection services, Action<HornbeamOptions>? configure = null)
    {
        var options = services.AddValidatedOptions<HornbeamOptions, HornbeamOptionsValidator>(HornbeamOptions.Section);
        if (configure is not null) options.Configure(configure);
        services.AddValidatedOptions<RedisOptions, RedisOptionsValidator>(RedisOptions.Section);
        services.AddValidatedOptions<IdempotencyOptions, IdempotencyOptionsValidator>(IdempotencyOptions.Section);
        services.TryAddSingleton<IIdempotencyStore, IdempotencyStore>();

        // One multiplexer for the process, created when first needed (by the first service that injects it) and disposed
        // with the container when the host stops.
        services.TryAddSingleton<IConnectionMultiplexer>(sp => RedisConnection.Connect(ConnectionOptions(sp),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RedisConnection))));
        services.TryAddSingleton(sp => new SentinelFence(ConnectionOptions(sp), sp.GetRequiredService<IOptions<RedisOptions>>().Value,
            sp.GetRequiredService<ILogger<SentinelFence>>()));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<SentinelFence>());
        services.TryAddSingleton(sp => new RedisBatcher(sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<IOptions<RedisOptions>>().Value,
            sp.GetRequiredService<SentinelFence>().Refuses));
        services.TryAddSingleton<RedisChannels>();
        services.TryAddSingleton(sp => new RedisKeys(sp.GetRequiredService<IOptions<HornbeamOptions>>().Value.Prefix));

        services.TryAddSingleton<NodeIdentity>();
        services.AddHornbeamCluster();
        services.AddHornbeamFunctions();

        services.TryAddSingleton<IStateStore, StateStore>();
        services.AddValidatedOptions<StateChangesOptions, StateChangesOptionsValidator>(StateChangesOptions.Section);
        services.TryAddSingleton<IStateChanges, StateChanges>();
        services.AddHostedService<StateExpirySweep>();
        services.AddHooks();
        services.AddMlCache();
        services.AddPubSub();
        return new HornbeamBuilder(services);
    }

    private static ConfigurationOptions ConnectionOptions(IServiceProvider services) => RedisConnection.Options(
        services.GetRequiredService<IConfiguration>().GetConnectionString("Redis")
            ?? throw new InvalidOperationException("ConnectionStrings:Redis is not set; give a StackExchange.Redis connection string " +
                "such as 'localhost:6379'."),
        services.GetRequiredService<IOptions<RedisOptions>>().Value);
}

/// <summary>
/// What <see cref="HornbeamServiceCollectionExtensions.AddHornbeam"/> answers: later capabilities add their
/// registrations here.
/// </summary>
public sealed class HornbeamBuilder(IServiceCollection services)
{
    /// <summary>The service collection Hornbeam registered into.</summary>
    public IServiceCollection Services { get; } = services;
}
