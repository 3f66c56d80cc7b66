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

        services.TryAddSingleton(sp => new RedisConnection(
            sp.GetRequiredService<IConfiguration>().GetConnectionString("Redis")
                ?? throw new InvalidOperationException("ConnectionStrings:Redis is not set; give a StackExchange.Redis connection string such as 'localhost:6379'."),
            sp.GetRequiredService<IOptions<RedisOptions>>().Value,
            sp.GetRequiredService<ILogger<RedisConnection>>()));
        // Registered first so the connection exists before any other Hornbeam service starts.
        services.Insert(0, ServiceDescriptor.Singleton<IHostedService>(sp => sp.GetRequiredService<RedisConnection>()));
        services.TryAddSingleton<IConnectionMultiplexer>(sp => sp.GetRequiredService<RedisConnection>().Multiplexer);
        services.TryAddSingleton(sp => new RedisBatcher(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IOptions<RedisOptions>>().Value,
            sp.GetRequiredService<RedisConnection>().Refuses));
        services.TryAddSingleton(sp => new RedisKeys(sp.GetRequiredService<IOptions<HornbeamOptions>>().Value.Prefix));

        services.TryAddSingleton<NodeIdentity>();
        services.AddHornbeamCluster();
        services.AddHornbeamFunctions();

        services.TryAddSingleton<IStateStore, StateStore>();
        services.AddHooks();
        services.AddMlCache();
        services.AddPubSub();
        return new HornbeamBuilder(services);
    }
}

/// <summary>What <see cref="HornbeamServiceCollectionExtensions.AddHornbeam"/> answers: later capabilities add their registrations here.</summary>
public sealed class HornbeamBuilder(IServiceCollection services)
{
    /// <summary>The service collection Hornbeam registered into.</summary>
    public IServiceCollection Services { get; } = services;
}
