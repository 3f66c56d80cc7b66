using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>The README's run command: with no connection string the API runs on an embedded Garnet store.</summary>
public sealed class EmbeddedStoreTests
{
    [Fact]
    public async Task WithoutAConnectionStringTheApiServesStateFromTheEmbeddedStore()
    {
        await using var api = new HornbeamApiFactory(null, TestPrefix.New());
        var client = api.CreateClient();

        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync("/state/user:1", Http.Json("{\"name\":\"Alice\"}"))).StatusCode);
        Assert.Equal("Alice", (await (await client.GetAsync("/state/user:1")).ReadJsonAsync()).GetProperty("value").GetProperty("name").GetString());
        await client.PutAsync("/state/n", Http.Json("41"));
        Assert.Equal(42, (await (await client.PostAsync("/state/incr/n", null)).ReadJsonAsync()).GetProperty("value").GetInt64());
        Assert.Equal(1, (await (await client.PostAsync("/state/incr/views:/home", null)).ReadJsonAsync()).GetProperty("value").GetInt64());
        var keys = await (await client.GetAsync("/state?prefix=user:")).ReadJsonAsync();
        Assert.Equal(["user:1"], keys.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray());
        var multi = await (await client.PostAsync("/state/multi", Http.Json("{\"keys\":[\"n\",\"none\"]}"))).ReadJsonAsync();
        Assert.Equal(42, multi.GetProperty("values").GetProperty("n").GetInt64());
    }
}
