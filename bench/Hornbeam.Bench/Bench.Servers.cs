using System.Security.Cryptography;
using Hornbeam.Tests.Infrastructure;
using StackExchange.Redis;

namespace Hornbeam.Bench;

// The run's shared contenders: one redis-server, one Hornbeam node as shipped for Production, webdis and Noop.
internal sealed partial class Bench
{
    /// <summary>Hornbeam's default key prefix: the main node and every node a scenario starts use it.</summary>
    private const string Prefix = "hornbeam:";

    private LocalRedisProcess _redis = null!;
    private IDatabase _db = null!;
    private string _hb = "", _wd = "", _noop = "", _hbKey = "";
    private string _hbAuth = "";

    public async Task StartServersAsync()
    {
        _redis = Keep(await LocalRedisProcess.StartAsync());
        Log($"started redis-server on {_redis.Port}");
        var multiplexer = Keep(await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString));
        _db = multiplexer.GetDatabase();

        // Production as shipped: access control on, one API key with the state scopes and no rate limit.
        _hbKey = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        _hbAuth = $"X-Api-Key: {_hbKey}";
        var ports = FreePorts(2);
        var main = Keep(await ApiProcess.StartAsync("hornbeam", _redis.ConnectionString, Prefix, new Dictionary<string, string>
        {
            ["Hornbeam:Auth:Enabled"] = "true",
            ["Hornbeam:Auth:Keys:0:Name"] = "bench",
            ["Hornbeam:Auth:Keys:0:Key"] = _hbKey,
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:read",
            ["Hornbeam:Auth:Keys:0:Scopes:1"] = "state:write",
            ["Hornbeam:Auth:Keys:0:Scopes:2"] = "invoke",
            ["Hornbeam:Auth:Keys:0:Scopes:3"] = "admin",
            ["Hornbeam:Webhooks:AllowedHosts:0"] = $"127.0.0.1:{ports[1]}",
        }));
        _hb = $"http://127.0.0.1:{main.Port}";
        await WaitUntilAsync("hornbeam answers with its key", async () => await StatusAsync("GET", $"{_hb}/state?limit=1", _hbKey) == 200);
        Note("Hornbeam runs as shipped for Production: every request carries an API key (X-Api-Key) with the state, invoke and admin " +
             "scopes; no rate limit is set; telemetry is left at its defaults. Nodes started for the rpc, pubsub and cluster rows run " +
             "with Hornbeam__Auth__Enabled=false.");

        _wd = $"http://127.0.0.1:{ports[0]}";
        var config = Tmp("webdis.json", $$"""
            {
              "redis_host": "127.0.0.1",
              "redis_port": {{_redis.Port}},
              "http_host": "127.0.0.1",
              "http_port": {{ports[0]}},
              "threads": 2,
              "pool_size": 20,
              "daemonize": false,
              "database": 0,
              "verbosity": 0,
              "logfile": "{{Path.Combine(tmp, "webdis.log")}}"
            }
            """);
        Keep(ChildProcess.Start("webdis", Path.Combine(results, "webdis.log"), "webdis", [config]));
        await WaitUntilAsync("webdis answers", async () => await StatusAsync("GET", $"{_wd}/PING") == 200, 20);

        _noop = $"http://127.0.0.1:{ports[1]}";
        var noopDll = BenchDll("Noop");
        Keep(ChildProcess.Start("noop", Path.Combine(results, "noop.log"), "dotnet", [noopDll], new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = _noop,
            ["Logging__LogLevel__Default"] = "Warning",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        }, Path.GetDirectoryName(noopDll)));
        await WaitUntilAsync("noop answers", async () => await StatusAsync("GET", $"{_noop}/noop") == 200);
    }

    /// <summary>
    /// A fresh .NET process runs unoptimised code until tiered compilation catches up; without this the first scenario
    /// would measure the JIT. Every Hornbeam route the scenarios use is driven for a while, and Noop too; nothing is kept.
    /// </summary>
    public async Task WarmUpAsync()
    {
        var warm = Tmp("warm.json", """{"name":"warm","n":0}""");
        var warmMulti = Tmp("warm-multi.json", """{"keys":["bench:warm","bench:warm2"]}""");
        await HttpAsync("PUT", $"{_hb}/state/bench:warm", warm, _hbKey);
        Spec[] specs =
        [
            new("POST", $"{_hb}/state/incr/bench:warm2", null, _hbAuth),
            new("GET", $"{_hb}/state/bench:warm", null, _hbAuth),
            new("PUT", $"{_hb}/state/bench:warm", warm, _hbAuth),
            new("POST", $"{_hb}/state/multi", warmMulti, _hbAuth),
            new("GET", $"{_hb}/state?prefix=bench:warm&limit=10", null, _hbAuth),
            new("GET", $"{_noop}/noop"),
            new("POST", $"{_noop}/noop", warm),
        ];
        foreach (var spec in specs) await MeasureAsync("start-up", "warm-up", "warmup", settings.Connections, spec, settings.StartWarmup);
        await HttpAsync("DELETE", $"{_hb}/state/bench:warm", null, _hbKey);
        await HttpAsync("DELETE", $"{_hb}/state/bench:warm2", null, _hbKey);
        Log("warmed up Hornbeam and Noop");
    }

    /// <summary>One more node with access control off (unless <paramref name="settings"/> says otherwise), stopped with the run.</summary>
    private async Task<ApiProcess> StartNodeAsync(string name, string redis, Dictionary<string, string>? settings = null)
    {
        var node = Keep(await ApiProcess.StartAsync(name, redis, Prefix, settings));
        Log($"started {name} on {node.Port}");
        return node;
    }

    private static string Url(ApiProcess node) => $"http://127.0.0.1:{node.Port}";
}
