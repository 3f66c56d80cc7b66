using System.Text;
using System.Text.Json;
using Hornbeam.Redis;
using Hornbeam.Tests.Infrastructure;
using StackExchange.Redis;

namespace Hornbeam.Bench;

// The scenarios, one per row group: each prepares its data, checks every contender answers correctly, then compares.
// To add a row: write a method here, name it in RunScenarioAsync and in BenchSettings.AllScenarios.
internal sealed partial class Bench
{
    public Task RunScenarioAsync(string scenario)
    {
        _fresh = false;
        return scenario switch
        {
            "incr" => IncrAsync(),
            "get" => GetAsync(),
            "put" => PutAsync(),
            "multi" => MultiAsync(),
            "redis_floor" => RedisFloorAsync(),
            "list" => ListAsync(),
            "rpc" => RpcAsync(),
            "hooks" => HooksAsync(),
            "pubsub" => PubSubAsync(),
            "nginx" => NginxAsync(),
            "cluster" => ClusterAsync(),
            _ => throw new ArgumentException($"unknown scenario {scenario}"),
        };
    }

    private async Task IncrAsync()
    {
        await HttpAsync("POST", $"{_hb}/state/incr/bench:ctr", null, _hbKey);
        if (await HttpAsync("GET", $"{_wd}/INCR/bench:ctr2") != """{"INCR":1}""") throw Fail("""webdis INCR did not answer {"INCR":1}""");
        await CompareAsync("INCR", settings.Connections,
            ("hornbeam", new("POST", $"{_hb}/state/incr/bench:ctr", null, _hbAuth)),
            ("webdis", new("GET", $"{_wd}/INCR/bench:ctr2")),
            ("noop", new("POST", $"{_noop}/noop")));
    }

    private async Task GetAsync()
    {
        var small = Tmp("small.json", """{"name":"alice","n":1}""");
        await HttpAsync("PUT", $"{_hb}/state/bench:get", small, _hbKey);
        await _db.StringSetAsync("webdis:get", """{"name":"alice","n":1}""");
        if (await HttpAsync("GET", $"{_hb}/state/bench:get", null, _hbKey) != """{"key":"bench:get","value":{"name":"alice","n":1}}""")
            throw Fail("Hornbeam GET /state/bench:get did not return the value just PUT");
        if (!(await HttpAsync("GET", $"{_wd}/GET/webdis:get")).Contains("alice"))
            throw Fail("webdis GET did not return the value just SET");
        await CompareAsync("GET", settings.Connections,
            ("hornbeam", new("GET", $"{_hb}/state/bench:get", null, _hbAuth)),
            ("webdis", new("GET", $"{_wd}/GET/webdis:get")),
            ("noop", new("GET", $"{_noop}/noop")));
    }

    private async Task PutAsync()
    {
        // A 1024-byte JSON object, compact, as a client library would send it.
        const string Head = "{\"id\":\"user:4711\",\"name\":\"alice\",\"roles\":[\"reader\",\"writer\"],\"n\":1,\"active\":true,\"pad\":\"";
        var body = Head + new string('x', 1024 - Head.Length - 2) + "\"}";
        var oneK = Tmp("1k.json", body);
        await HttpAsync("PUT", $"{_hb}/state/bench:put", oneK, _hbKey);
        // Read straight from Redis where Core's key builder puts the value.
        if (await _db.StringLengthAsync(new RedisKeys(Prefix).StateValue("bench:put")) != 1024)
            throw Fail("Hornbeam PUT did not store 1024 bytes");
        Spec webdis;
        // webdis takes a PUT body as the command's last argument; fall back to the value in the URL if this build does not.
        if (await SucceedsAsync("PUT", $"{_wd}/SET/webdis:put", oneK) && await _db.StringLengthAsync("webdis:put") == 1024)
        {
            webdis = new("PUT", $"{_wd}/SET/webdis:put", oneK);
        }
        else
        {
            webdis = new("GET", $"{_wd}/SET/webdis:put/{new string('x', 1024)}");
            Note("webdis did not take the PUT body, so its PUT row sends GET /SET/webdis:put/<1 KB url-safe string>.");
        }
        await CompareAsync("PUT 1 KB", settings.Connections,
            ("hornbeam", new("PUT", $"{_hb}/state/bench:put", oneK, _hbAuth)),
            ("webdis", webdis),
            ("noop", new("POST", $"{_noop}/noop", oneK)));
    }

    private async Task<bool> SucceedsAsync(string method, string url, string bodyFile)
    {
        using var response = await SendAsync(method, url, bodyFile, null);
        return response.IsSuccessStatusCode;
    }

    private async Task MultiAsync()
    {
        var webdisPath = new StringBuilder();
        for (var i = 0; i < 10; i++)
        {
            await HttpAsync("PUT", $"{_hb}/state/bench:m:{i}", Tmp("m.json", $$"""{"name":"alice","n":{{i}}}"""), _hbKey);
            await _db.StringSetAsync($"webdis:m:{i}", $$"""{"name":"alice","n":{{i}}}""");
            webdisPath.Append($"/webdis:m:{i}");
        }
        var multi = Tmp("multi.json", $"{{\"keys\":[{string.Join(',', Enumerable.Range(0, 10).Select(i => $"\"bench:m:{i}\""))}]}}");
        if (Count(await HttpAsync("POST", $"{_hb}/state/multi", multi, _hbKey), "\"n\":") != 10)
            throw Fail("Hornbeam multi did not return 10 values");
        if (Count(await HttpAsync("GET", $"{_wd}/MGET{webdisPath}"), "alice") != 10) throw Fail("webdis MGET did not return 10 values");
        await CompareAsync("multi (10 keys)", settings.Connections,
            ("hornbeam", new("POST", $"{_hb}/state/multi", multi, _hbAuth)),
            ("webdis", new("GET", $"{_wd}/MGET{webdisPath}")),
            ("noop", new("POST", $"{_noop}/noop", multi)));
    }

    private static int Count(string text, string part) => (text.Length - text.Replace(part, "").Length) / part.Length;

    private async Task RedisFloorAsync()
    {
        var log = Path.Combine(results, "redis-benchmark.log");
        string[] arguments = ["-h", "127.0.0.1", "-p", _redis.Port.ToString(), "-t", "incr,get", "-c", settings.Connections.ToString(),
            "-n", settings.RedisRequests.ToString(), "-q", "--csv"];
        if (await ChildProcess.RunAsync(log, "redis-benchmark", arguments, TimeSpan.FromMinutes(5)) != 0)
            throw Fail("redis-benchmark failed");
        // The CSV lines are the quoted ones; anything else the tool says stays in the log.
        var csv = File.ReadLines(log).Where(l => l.StartsWith('"')).ToList();
        File.WriteAllLines(Path.Combine(results, "redis-benchmark.csv"), csv);
        Log($"redis-benchmark: {string.Join(' ', csv.Skip(1).Select(l => string.Join(',', l.Split(',').Take(2))))}");
    }

    private async Task ListAsync()
    {
        if (settings.Keys > 0)
        {
            Log($"writing {settings.Keys} filler keys in Hornbeam's layout");
            await FillKeysAsync(settings.Keys, "bench:fill:");
            // A filler key must read back through the API: proves the keys are where Hornbeam looks.
            if (await HttpAsync("GET", $"{_hb}/state/bench:fill:0000000", null, _hbKey) != """{"key":"bench:fill:0000000","value":1}""")
                throw Fail("a filler key is not readable through the API");
        }
        var one = Tmp("one.json", "1");
        for (var i = 0; i < 100; i++) await HttpAsync("PUT", $"{_hb}/state/bench:p:0{i:D2}", one, _hbKey);
        using var listing = JsonDocument.Parse(await HttpAsync("GET", $"{_hb}/state?prefix=bench:p:&limit=1000", null, _hbKey));
        var page = listing.RootElement;
        var count = page.GetProperty("cursor").ValueKind == JsonValueKind.Null ? page.GetProperty("keys").GetArrayLength() : -1;
        if (count != 100) throw Fail($"GET /state?prefix=bench:p: should list exactly 100 keys on one page, got {count}");
        Log($"listing returns the 100 matches among {await _db.ExecuteAsync("DBSIZE")} Redis keys");
        await CompareAsync($"list prefix (100 of {settings.Keys + 100} keys)", settings.ListConnections,
            ("hornbeam", new("GET", $"{_hb}/state?prefix=bench:p:&limit=1000", null, _hbAuth)),
            ("noop", new("GET", $"{_noop}/noop")));
    }

    /// <summary>
    /// State keys written straight to Redis in Hornbeam's layout (Core's key builder: value key and bucket index), far
    /// faster than a million HTTP PUTs. Values are JSON, as the API would have stored them.
    /// </summary>
    private async Task FillKeysAsync(int count, string keyPrefix)
    {
        var keys = new RedisKeys(Prefix);
        var pending = new Dictionary<RedisKey, List<SortedSetEntry>>();
        void Flush(RedisKey index, List<SortedSetEntry> members)
        {
            _db.SortedSetAdd(index, [.. members], CommandFlags.FireAndForget);
            members.Clear();
        }
        for (var i = 0; i < count; i++)
        {
            var key = $"{keyPrefix}{i:D7}";
            _db.StringSet(keys.StateValue(key), "1", flags: CommandFlags.FireAndForget);
            var index = keys.StateIndexFor(key);
            if (!pending.TryGetValue(index, out var members)) pending[index] = members = [];
            members.Add(new SortedSetEntry(key, 0));
            if (members.Count >= 500) Flush(index, members);
            // A round trip now and then keeps the client's backlog small.
            if (i % 20_000 == 19_999) await _db.PingAsync();
        }
        foreach (var (index, members) in pending) Flush(index, members);
        await _db.PingAsync();
    }

    /// <summary>RPC round trip between two nodes on one Redis, against the in-process call on the same node.</summary>
    private async Task RpcAsync()
    {
        _fresh = true;
        var n1 = await StartNodeAsync("n1", _redis.ConnectionString);
        var n2 = await StartNodeAsync("n2", _redis.ConnectionString);
        await WaitUntilAsync("n1 sees n2 in GET /nodes",
            async () => (await HttpAsync("GET", $"{Url(n1)}/nodes")).Contains("\"node\":\"n2\""), 20);
        var rpc = Tmp("rpc.json", """{"args": []}""");
        foreach (var address in new[] { $"{Url(n1)}/rpc/n2/hornbeam/ping", $"{Url(n1)}/rpc/n1/hornbeam/ping" })
            if (await HttpAsync("POST", address, rpc) != """{"result":"pong"}""")
                throw Fail($$"""POST {{address}} did not answer {"result":"pong"}""");
        foreach (var c in new[] { 8, 1 })
        {
            Baseline($"RPC ping -c{c}", "in-process");
            await CompareAsync($"RPC ping -c{c}", c,
                ("n1-to-n2", new("POST", $"{Url(n1)}/rpc/n2/hornbeam/ping", rpc)),
                ("in-process", new("POST", $"{Url(n1)}/rpc/n1/hornbeam/ping", rpc)));
        }
        Note("RPC rows: two extra nodes n1, n2 on the run's Redis, access control off; n1-to-n2 is POST n1/rpc/n2/hornbeam/ping " +
             "(XADD + doorbell, reply over pub/sub), in-process is POST n1/rpc/n1/hornbeam/ping.");
        Stop(n1);
        Stop(n2);
    }

    /// <summary>Executing an HTTP hook (served by Noop) and an inference-cache hit, against GET /state on the main node.</summary>
    private async Task HooksAsync()
    {
        await HttpAsync("PUT", $"{_hb}/hooks/benchhook", Tmp("hook.json", $$"""{"url": "{{_noop}}/hook"}"""), _hbKey);
        var exec = Tmp("exec.json", """{"args": ["same text"], "kwargs": {}}""");
        var cached = Tmp("cached.json", """{"input": "same text"}""");
        await HttpAsync("PUT", $"{_hb}/state/bench:hookget", Tmp("small.json", """{"name":"alice","n":1}"""), _hbKey);
        if (await HttpAsync("POST", $"{_hb}/hooks/benchhook/echo", exec, _hbKey) != """{"result":{"ok":1}}""")
            throw Fail("""POST /hooks/benchhook/echo did not answer {"result":{"ok":1}}""");
        await HttpAsync("POST", $"{_hb}/ml/cached/benchhook/echo", cached, _hbKey);
        if (!(await HttpAsync("POST", $"{_hb}/ml/cached/benchhook/echo", cached, _hbKey)).Contains("\"cached\":true"))
            throw Fail("the second POST /ml/cached/benchhook/echo was not a cache hit");
        Baseline("hook / cache / GET", "state-get");
        await CompareAsync("hook / cache / GET", settings.Connections,
            ("hook-execute", new("POST", $"{_hb}/hooks/benchhook/echo", exec, _hbAuth)),
            ("ml-cached-hit", new("POST", $"{_hb}/ml/cached/benchhook/echo", cached, _hbAuth)),
            ("state-get", new("GET", $"{_hb}/state/bench:hookget", null, _hbAuth)));
        if (!(await HttpAsync("POST", $"{_hb}/ml/cached/benchhook/echo", cached, _hbKey)).Contains("\"cached\":true"))
            throw Fail("POST /ml/cached/benchhook/echo stopped being a cache hit");
        Note("Hook rows: the main node with its API key; hook-execute is POST /hooks/benchhook/echo, an HTTP hook served by Noop's " +
             "POST /hook/{action} (answers {\"ok\":1} without reading the body); ml-cached-hit is POST /ml/cached/benchhook/echo with a " +
             "fixed {\"input\": \"same text\"}, a hit after the first call.");
        await HttpAsync("DELETE", $"{_hb}/hooks/benchhook", null, _hbKey);
    }

    /// <summary>Publish-to-receive latency with many SSE streams over three nodes, and memory per stream.</summary>
    private async Task PubSubAsync()
    {
        var nodes = new List<ApiProcess>();
        for (var i = 1; i <= 3; i++) nodes.Add(await StartNodeAsync($"p{i}", _redis.ConnectionString));
        var pids = nodes.Select(PidOf).ToArray();
        var s = settings;
        string[] arguments =
        [
            BenchDll("SseLatency"), "--nodes", string.Join(',', nodes.Select(Url)), "--topic", "bench:sse",
            "--subscribers", s.SseSubscribers.ToString(), "--messages", s.SseMessages.ToString(), "--rate", s.SseRate.ToString(),
            "--warmup", s.SseWarmup.ToString(), "--rss-pid", pids[0].ToString(), "--cpu-pids", string.Join(',', pids),
            "--out", Path.Combine(results, "sse.json"),
        ];
        var limit = TimeSpan.FromSeconds((s.SseWarmup + s.SseMessages) / s.SseRate + 180);
        var log = Path.Combine(results, "sse.log");
        if (await ChildProcess.RunAsync(log, "dotnet", arguments, limit) != 0)
            throw Fail($"bench/SseLatency failed: {string.Join(" ", File.ReadLines(log).TakeLast(5))}");
        Log($"pubsub: {await File.ReadAllTextAsync(Path.Combine(results, "sse.json"))}");
        Note("Pub/sub row: three extra nodes p1-p3 on the run's Redis, access control off; bench/SseLatency (C#, one HTTP/1.1 " +
             "connection and async read loop per stream, so one slow stream does not hold up the others' timestamps; it shares the " +
             "2 cores with the nodes and Redis) holds the streams round-robin over the nodes and publishes round-robin too; memory " +
             "is VmRSS of p1, CPU is the three nodes' utime+stime while the counted and warm-up messages flow.");
        foreach (var node in nodes) Stop(node);
    }

    /// <summary>POST /state/incr through deploy/local.sh's nginx with 1 and 3 replicas, and 1 replica with access control off.</summary>
    private async Task NginxAsync()
    {
        _fresh = true;
        var key = $"bench-local-{Random.Shared.Next():x}";
        var topologies = new List<IDisposable>();
        var specs = new List<(string, Spec)>();
        foreach (var (replicas, auth) in new[] { (1, "keys"), (3, "keys"), (1, "off") })
        {
            var name = $"local-{replicas}-{auth}";
            var ports = FreePorts(2);
            var environment = new Dictionary<string, string>
            {
                ["HORNBEAM_LOCAL_DIR"] = Path.Combine(tmp, name),
                ["HORNBEAM_LB_PORT"] = ports[0].ToString(),
                ["HORNBEAM_REDIS_PORT"] = ports[1].ToString(),
                ["HORNBEAM_API_PORT_BASE"] = FreeBlock(4).ToString(),
                ["HORNBEAM_REPLICAS"] = replicas.ToString(),
                ["HORNBEAM_API_KEY"] = key,
                ["HORNBEAM_API_DLL"] = ApiProcess.ApiDll(),
            };
            if (auth == "off") environment["Hornbeam__Auth__Enabled"] = "false";
            topologies.Add(Keep(new LocalTopology(name, environment, Path.Combine(results, $"{name}.log"))));
            await ((LocalTopology)topologies[^1]).StartAsync();
            var lb = $"http://127.0.0.1:{ports[0]}";
            var apiKey = auth == "keys" ? key : null;
            if (!(await HttpAsync("POST", $"{lb}/state/incr/bench:lb", null, apiKey)).Contains("\"value\":1"))
                throw Fail($"POST /state/incr through nginx ({name}) did not answer value 1");
            var anonymous = await StatusAsync("POST", $"{lb}/state/incr/bench:lb");
            if (anonymous != (auth == "off" ? 200 : 401)) throw Fail($"access control is not {(auth == "off" ? "off" : "on")} for {name}");
            specs.Add(($"nginx-{replicas}-replica{(replicas == 1 ? "" : "s")}-auth-{auth}",
                new("POST", $"{lb}/state/incr/bench:lb", null, apiKey is null ? null : $"X-Api-Key: {apiKey}")));
        }
        Baseline("incr via nginx", "nginx-1-replica-auth-keys");
        await CompareAsync("incr via nginx", settings.Connections, [.. specs]);
        Note("nginx rows: three deploy/local.sh topologies up at once (each its own redis-server, append-only with appendfsync always " +
             "as shipped, and nginx with least_conn): 1 replica with an API key, 3 replicas with an API key, 1 replica with " +
             "Hornbeam__Auth__Enabled=false; all on the same 2 cores, so 3 replicas share the CPU that 1 replica has alone.");
        foreach (var topology in topologies) Stop(topology);

        // The same question without nginx or an fsync per write: two nodes on the run's Redis, with a key and without.
        var on = await StartNodeAsync("auth-on", _redis.ConnectionString, new()
        {
            ["Hornbeam:Auth:Enabled"] = "true",
            ["Hornbeam:Auth:Keys:0:Name"] = "bench",
            ["Hornbeam:Auth:Keys:0:Key"] = key,
            ["Hornbeam:Auth:Keys:0:Scopes:0"] = "state:write",
        });
        var off = await StartNodeAsync("auth-off", _redis.ConnectionString);
        if (await StatusAsync("POST", $"{Url(on)}/state/incr/bench:auth") != 401)
            throw Fail("access control is not on for the auth-on node");
        await HttpAsync("POST", $"{Url(on)}/state/incr/bench:auth", null, key);
        await HttpAsync("POST", $"{Url(off)}/state/incr/bench:auth");
        Baseline("incr direct (auth)", "auth-keys");
        await CompareAsync("incr direct (auth)", settings.Connections,
            ("auth-keys", new("POST", $"{Url(on)}/state/incr/bench:auth", null, $"X-Api-Key: {key}")),
            ("auth-off", new("POST", $"{Url(off)}/state/incr/bench:auth")));
        Note("incr direct (auth) rows: two extra nodes on the run's Redis (no AOF), no nginx: one with an API key (state:write) sent " +
             "as X-Api-Key, one with Hornbeam__Auth__Enabled=false.");
        Stop(on);
        Stop(off);
    }

    /// <summary>POST /state/incr and POST /state/multi (10 keys) on a 3-master Redis Cluster against one redis-server.</summary>
    private async Task ClusterAsync()
    {
        _fresh = true;
        var cluster = Keep(await LocalRedisCluster.StartAsync(masters: 3));
        Log($"started a 3-master Redis Cluster on {cluster.ConnectionString}");
        var clustered = await StartNodeAsync("cl", cluster.ConnectionString);
        var single = await StartNodeAsync("sg", _redis.ConnectionString);
        var multi = Tmp("cmulti.json", $"{{\"keys\":[{string.Join(',', Enumerable.Range(0, 10).Select(i => $"\"bench:cm:{i}\""))}]}}");
        var value = Tmp("cm.json", """{"name":"alice","n":1}""");
        foreach (var api in new[] { Url(clustered), Url(single) })
        {
            for (var i = 0; i < 10; i++) await HttpAsync("PUT", $"{api}/state/bench:cm:{i}", value);
            if (Count(await HttpAsync("POST", $"{api}/state/multi", multi), "\"n\":") != 10)
                throw Fail($"POST /state/multi on {api} did not return 10 values");
            if (!(await HttpAsync("POST", $"{api}/state/incr/bench:cctr")).Contains("\"value\":1"))
                throw Fail($"incr on {api} did not answer 1");
        }
        // The keys really are spread: the ten multi keys must not all live on one master.
        var masters = 0;
        foreach (var node in cluster.Nodes)
            if (long.Parse(await Resp.CommandAsync(node.Port, "DBSIZE") ?? "0") > 0) masters++;
        if (masters < 2) throw Fail("every key landed on one cluster master");
        Baseline("incr (cluster vs single)", "single-redis");
        await CompareAsync("incr (cluster vs single)", settings.Connections,
            ("cluster-3-masters", new("POST", $"{Url(clustered)}/state/incr/bench:cctr")),
            ("single-redis", new("POST", $"{Url(single)}/state/incr/bench:cctr")));
        Baseline("multi 10 keys (cluster vs single)", "single-redis");
        await CompareAsync("multi 10 keys (cluster vs single)", settings.Connections,
            ("cluster-3-masters", new("POST", $"{Url(clustered)}/state/multi", multi)),
            ("single-redis", new("POST", $"{Url(single)}/state/multi", multi)));
        Note("Cluster rows: two extra nodes with access control off, one on a local 3-master Redis Cluster (redis-cli --cluster create, " +
             $"no replicas), one on the run's single redis-server; keys held on {masters} of 3 masters.");
        Stop(clustered);
        Stop(single);
        Stop(cluster);
    }
}
