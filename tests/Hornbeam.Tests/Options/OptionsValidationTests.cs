using Hornbeam.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hornbeam.Tests.Options;

/// <summary>
/// Every Hornbeam setting is checked at start-up by its source-generated validator, and a bad one stops the start with a
/// message that names the setting.
/// </summary>
public sealed class OptionsValidationTests
{
    private const string DefaultRpcTimeout = "Hornbeam:Cluster:DefaultRpcTimeoutMs must be between 1 and Hornbeam:Cluster:MaxRpcTimeoutMs";

    /// <summary>Each rule of every options class: the setting, a value that breaks it, and what the message says.</summary>
    public static TheoryData<string, string, string> BrokenRules => new()
    {
        { "Hornbeam:Prefix", "", "Hornbeam:Prefix must not be empty" },
        { "Hornbeam:Prefix", "{x}", "Hornbeam:Prefix must not contain '{' or '}'" },
        { "Hornbeam:NodeName", "a b", "Hornbeam:NodeName must not contain white space" },
        { "Hornbeam:MaxKeyBytes", "0", "Hornbeam:MaxKeyBytes must be at least 1" },
        { "Hornbeam:MaxValueBytes", "0", "Hornbeam:MaxValueBytes must be at least 1" },
        { "Hornbeam:MaxRequestBodyBytes", "10", "Hornbeam:MaxRequestBodyBytes must be at least Hornbeam:MaxValueBytes" },
        { "Hornbeam:MaxMultiKeys", "0", "Hornbeam:MaxMultiKeys must be at least 1" },
        { "Hornbeam:DefaultKeysPage", "0", "Hornbeam:DefaultKeysPage must be between 1 and Hornbeam:MaxKeysPage" },
        { "Hornbeam:DefaultKeysPage", "10001", "Hornbeam:DefaultKeysPage must be between 1 and Hornbeam:MaxKeysPage" },
        { "Hornbeam:Redis:WaitReplicas", "-1", "Hornbeam:Redis:WaitReplicas must be 0 or more" },
        { "Hornbeam:Redis:DeadlineMs", "10", "Hornbeam:Redis:DeadlineMs must be at least 100" },
        { "Hornbeam:Redis:SubscriptionCheckInterval", "00:00:00.050", "Hornbeam:Redis:SubscriptionCheckInterval must be at least 100 ms" },
        { "Hornbeam:Idempotency:WindowSeconds", "0", "Hornbeam:Idempotency:WindowSeconds must be at least 1" },
        { "Hornbeam:Idempotency:MaxStoredAnswerBytes", "-1", "Hornbeam:Idempotency:MaxStoredAnswerBytes must be 0 or more" },
        { "Hornbeam:Hooks:HttpTimeoutSeconds", "0", "Hornbeam:Hooks:HttpTimeoutSeconds must be at least 1" },
        { "Hornbeam:Hooks:WorkerKeepAliveSeconds", "0", "Hornbeam:Hooks:WorkerKeepAliveSeconds must be from 1 to 3600" },
        { "Hornbeam:Tasks:RetentionSeconds", "0", "Hornbeam:Tasks:RetentionSeconds must be at least 1" },
        { "Hornbeam:Tasks:LeaseMilliseconds", "299", "Hornbeam:Tasks:LeaseMilliseconds must be at least 300" },
        { "Hornbeam:Tasks:MaxWaitMilliseconds", "-1", "Hornbeam:Tasks:MaxWaitMilliseconds must not be negative" },
        { "Hornbeam:Tasks:MaxRunningPerNode", "0", "Hornbeam:Tasks:MaxRunningPerNode must be at least 1" },
        { "Hornbeam:Tasks:FinishRetrySeconds", "-1", "Hornbeam:Tasks:FinishRetrySeconds must not be negative" },
        { "Hornbeam:Webhooks:AllowedHosts:0", "hooks.internal/path", "AllowedHosts:0 'hooks.internal/path' is neither host:port" },
        { "Hornbeam:Webhooks:AllowedHosts:0", "hooks.internal:http", "Hornbeam:Webhooks:AllowedHosts:0 'hooks.internal:http' has a port" },
        { "Hornbeam:Webhooks:MaxResponseBytes", "0", "Hornbeam:Webhooks:MaxResponseBytes must be at least 1" },
        { "Hornbeam:Webhooks:MaxCastsInFlight", "0", "Hornbeam:Webhooks:MaxCastsInFlight must be at least 1" },
        { "Hornbeam:Webhooks:CircuitFailureRatio", "0", "Hornbeam:Webhooks:CircuitFailureRatio must be between 0.01 and 1" },
        { "Hornbeam:Webhooks:CircuitMinimumThroughput", "1", "Hornbeam:Webhooks:CircuitMinimumThroughput must be at least 2" },
        { "Hornbeam:Webhooks:CircuitSamplingDuration", "00:00:00.1", "Hornbeam:Webhooks:CircuitSamplingDuration must be between 0.5" },
        { "Hornbeam:Webhooks:CircuitBreakDuration", "2.00:00:00", "Hornbeam:Webhooks:CircuitBreakDuration must be between 0.5 seconds" },
        { "Hornbeam:Ml:DefaultTtlSeconds", "0", "Hornbeam:Ml:DefaultTtlSeconds must be at least 1" },
        { "Hornbeam:Ml:LockTimeoutMs", "0", "Hornbeam:Ml:LockTimeoutMs must be at least 1" },
        { "Hornbeam:Ml:ClearBatchSize", "10001", "Hornbeam:Ml:ClearBatchSize must be between 1 and 10000" },
        { "Hornbeam:PubSub:HistoryLength", "0", "Hornbeam:PubSub:HistoryLength must be at least 1" },
        { "Hornbeam:PubSub:HistoryAge", "00:00:00", "Hornbeam:PubSub:HistoryAge must be positive" },
        { "Hornbeam:PubSub:BufferCapacity", "0", "Hornbeam:PubSub:BufferCapacity must be at least 1" },
        { "Hornbeam:PubSub:MaxSubscriptions", "0", "Hornbeam:PubSub:MaxSubscriptions must be at least 1" },
        { "Hornbeam:PubSub:HeartbeatInterval", "00:00:00.009", "Hornbeam:PubSub:HeartbeatInterval must be at least 10 ms" },
        { "Hornbeam:PubSub:NodeExpiry", "00:00:05", "Hornbeam:PubSub:NodeExpiry must be longer than HeartbeatInterval" },
        { "Hornbeam:PubSub:KeepAliveInterval", "00:00:00.009", "Hornbeam:PubSub:KeepAliveInterval must be at least 10 ms" },
        { "Hornbeam:PubSub:RetryInterval", "-00:00:01", "Hornbeam:PubSub:RetryInterval must not be negative" },
        { "Hornbeam:Cluster:HeartbeatInterval", "00:00:00", "Hornbeam:Cluster:HeartbeatInterval must be positive" },
        { "Hornbeam:Cluster:NodeExpiry", "00:00:01", "Hornbeam:Cluster:NodeExpiry must be longer than Hornbeam:Cluster:HeartbeatInterval" },
        { "Hornbeam:Cluster:SweepInterval", "00:00:00", "Hornbeam:Cluster:SweepInterval must be positive" },
        { "Hornbeam:Cluster:MaxRpcTimeoutMs", "0", "Hornbeam:Cluster:MaxRpcTimeoutMs must be at least 1" },
        { "Hornbeam:Cluster:DefaultRpcTimeoutMs", "0", DefaultRpcTimeout },
        { "Hornbeam:Cluster:DefaultRpcTimeoutMs", "60001", DefaultRpcTimeout },
        { "Hornbeam:Cluster:RequestStreamMaxLength", "0", "Hornbeam:Cluster:RequestStreamMaxLength must be at least 1" },
        { "Hornbeam:Cluster:MaxConcurrentRpcHandlers", "0", "Hornbeam:Cluster:MaxConcurrentRpcHandlers must be at least 1" },
        { "Hornbeam:Cluster:OrphanedRequestRetention", "00:00:00.999", "Hornbeam:Cluster:OrphanedRequestRetention must be at least one" },
        { "Hornbeam:Cluster:MaxPayloadBytes", "0", "Hornbeam:Cluster:MaxPayloadBytes must be at least 1" },
    };

    /// <summary>Values on the edge of each range, which must still be accepted.</summary>
    public static TheoryData<string, string> EdgeValues => new()
    {
        { "Hornbeam:Redis:DeadlineMs", "100" },
        { "Hornbeam:Redis:WaitReplicas", "0" },
        { "Hornbeam:Redis:SubscriptionCheckInterval", "00:00:00.100" },
        { "Hornbeam:Idempotency:MaxStoredAnswerBytes", "0" },
        { "Hornbeam:Tasks:LeaseMilliseconds", "300" },
        { "Hornbeam:Tasks:FinishRetrySeconds", "0" },
        { "Hornbeam:Ml:DefaultTtlSeconds", "1" },
        { "Hornbeam:Ml:ClearBatchSize", "10000" },
        { "Hornbeam:PubSub:HistoryAge", "00:00:00.001" },
        { "Hornbeam:PubSub:RetryInterval", "00:00:00" },
        { "Hornbeam:Cluster:HeartbeatInterval", "00:00:00.001" },
        { "Hornbeam:Cluster:OrphanedRequestRetention", "00:00:01" },
        { "Hornbeam:Cluster:DefaultRpcTimeoutMs", "60000" },
        { "Hornbeam:DefaultKeysPage", "10000" },
        { "Hornbeam:Webhooks:AllowedHosts:0", "https://hooks.internal:65535" },
    };

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public void EachBrokenRuleFailsStartUpValidationNamingItsSetting(string setting, string value, string message)
    {
        var error = Assert.ThrowsAny<Exception>(() => StartUpValidator(new() { [setting] = value }).Validate());
        Assert.Contains(message, error.ToString());
    }

    [Theory]
    [MemberData(nameof(EdgeValues))]
    public void ValuesOnTheEdgeOfARangeAreAccepted(string setting, string value) =>
        StartUpValidator(new() { [setting] = value }).Validate();

    [Fact]
    public void TheDefaultsAreValid() => StartUpValidator([]).Validate();

    /// <summary>One bad setting per options class, in a real host start: the start fails and says which setting.</summary>
    [Theory]
    [InlineData("Hornbeam:Prefix", "{x}", "Hornbeam:Prefix must not contain")]
    [InlineData("Hornbeam:Redis:DeadlineMs", "10", "Hornbeam:Redis:DeadlineMs must be at least 100")]
    [InlineData("Hornbeam:Cluster:NodeExpiry", "00:00:01", "Hornbeam:Cluster:NodeExpiry must be longer than")]
    [InlineData("Hornbeam:PubSub:NodeExpiry", "00:00:05", "Hornbeam:PubSub:NodeExpiry must be longer than")]
    [InlineData("Hornbeam:Idempotency:WindowSeconds", "0", "Hornbeam:Idempotency:WindowSeconds must be at least 1")]
    [InlineData("Hornbeam:Hooks:HttpTimeoutSeconds", "0", "Hornbeam:Hooks:HttpTimeoutSeconds must be at least 1")]
    [InlineData("Hornbeam:Tasks:LeaseMilliseconds", "100", "Hornbeam:Tasks:LeaseMilliseconds must be at least 300")]
    [InlineData("Hornbeam:Webhooks:MaxCastsInFlight", "0", "Hornbeam:Webhooks:MaxCastsInFlight must be at least 1")]
    [InlineData("Hornbeam:Ml:ClearBatchSize", "0", "Hornbeam:Ml:ClearBatchSize must be between 1 and 10000")]
    public async Task AHostWithABadSettingFailsToStartNamingTheSetting(string setting, string value, string message)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = await RedisServer.ConnectionStringAsync(),
            ["Hornbeam:Prefix"] = TestPrefix.New(),
            [setting] = value,
        });
        builder.Services.AddHornbeam();
        using var host = builder.Build();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains(message, error.ToString());
    }

    [Fact]
    public async Task TheApiFailsToStartWithABadSettingNamingIt()
    {
        var error = await StartFailureAsync("{x}", null);
        Assert.Contains("Hornbeam:Prefix must not contain", error.ToString());
    }

    [Theory]
    [InlineData("Hornbeam:Auth:Keys:0:Scopes:0", "everything", "Unknown scope 'everything' in Hornbeam:Auth:Keys")]
    [InlineData("Hornbeam:Auth:Keys:0:PermitsPerSecond", "-1", "Hornbeam:Auth:Keys:*:PermitsPerSecond must be 0 (no limit) or more")]
    [InlineData("Hornbeam:Auth:Keys:0:Key", " ", "Every Hornbeam:Auth:Keys entry needs a non-empty Key")]
    [InlineData("Hornbeam:Auth:FailedAttemptsPerMinute", "-1", "Hornbeam:Auth:FailedAttemptsPerMinute must be 0 (no limit) or more")]
    [InlineData("Hornbeam:RateLimit:Burst", "-1", "Hornbeam:RateLimit:PermitsPerSecond and Burst must be 0 or more")]
    [InlineData("Hornbeam:Auth:Keys:0:Key", "eyJhbGciOiJIUzI1NiJ9.e30.x", "Key may not look like a JWT")]
    [InlineData("Hornbeam:Auth:Tokens:MaxTtlSeconds", "0", "Hornbeam:Auth:Tokens:MaxTtlSeconds must be between 1 and 86400")]
    [InlineData("Hornbeam:Auth:Tokens:SigningKeys:0:Key", "c2hvcnQ=", "needs a Key of at least 32 bytes, written in base64")]
    [InlineData("Hornbeam:Auth:Tokens:SigningKeys:0:Id", "", "Every Hornbeam:Auth:Tokens:SigningKeys entry needs an Id")]
    [InlineData("Hornbeam:Auth:Tokens:SigningKeys:1:Id", "k1", "Hornbeam:Auth:Tokens:SigningKeys has the Id 'k1' twice")]
    public async Task TheApiFailsToStartWithABadAccessSettingNamingIt(string setting, string value, string message)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Hornbeam:Auth:Keys:0:Key"] = "secret",
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
            ["Hornbeam:Auth:Tokens:SigningKeys:0:Id"] = "k1",
            ["Hornbeam:Auth:Tokens:SigningKeys:0:Key"] = Convert.ToBase64String(new byte[32]),
            ["Hornbeam:Auth:Tokens:SigningKeys:1:Id"] = "k2",
            ["Hornbeam:Auth:Tokens:SigningKeys:1:Key"] = Convert.ToBase64String(new byte[32]),
            [setting] = value,
        };
        var error = await StartFailureAsync(TestPrefix.New(), settings);
        Assert.Contains(message, error.ToString());
    }

    [Theory]
    [InlineData("Hornbeam:Cors:AllowedOrigins:0", "https://app.example.com/", "AllowedOrigins:0 'https://app.example.com/' is not an")]
    [InlineData("Hornbeam:Cors:AllowedOrigins:0", "https://app.example.com:443", "'https://app.example.com:443' is not an")]
    [InlineData("Hornbeam:Cors:AllowedOrigins:0", "app.example.com", "Hornbeam:Cors:AllowedOrigins:0 'app.example.com' is not an origin")]
    [InlineData("Hornbeam:Cors:AllowedOrigins:1", "*", "Hornbeam:Cors:AllowedOrigins: '*' (any origin) must be the only entry")]
    [InlineData("Hornbeam:Cors:PreflightMaxAgeSeconds", "-1", "Hornbeam:Cors:PreflightMaxAgeSeconds must be between 0 and 86400")]
    public async Task TheApiFailsToStartWithABadCorsSettingNamingIt(string setting, string value, string message)
    {
        var settings = new Dictionary<string, string?> { ["Hornbeam:Cors:AllowedOrigins:0"] = "http://localhost:5173", [setting] = value };
        var error = await StartFailureAsync(TestPrefix.New(), settings);
        Assert.Contains(message, error.ToString());
    }

    /// <summary>
    /// Why a host with these settings fails to start. When the app's entry point fails, WebApplicationFactory can race
    /// its own disposal and report an ObjectDisposedException instead (rarely, under load): that start is tried again.
    /// </summary>
    private static async Task<Exception> StartFailureAsync(string prefix, Dictionary<string, string?>? settings)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var factory = new HornbeamApiFactory(await RedisServer.ConnectionStringAsync(), prefix, settings);
            var error = Assert.ThrowsAny<Exception>(() => factory.Server);
            if (error is not ObjectDisposedException || attempt == 3) return error;
        }
    }

    /// <summary>What a host runs first when it starts: every options class registered with ValidateOnStart, checked.</summary>
    private static IStartupValidator StartUpValidator(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddLogging();
        services.AddHornbeam();
        return services.BuildServiceProvider().GetRequiredService<IStartupValidator>();
    }
}
