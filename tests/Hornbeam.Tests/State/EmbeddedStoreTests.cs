using System.Diagnostics;
using System.Net;
using Hornbeam.Api.Hosting;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>
/// The README's run command: with no connection string the API runs on an embedded Garnet store in Development, and
/// refuses to start anywhere else.
/// </summary>
public sealed class EmbeddedStoreTests
{
    [Fact]
    public async Task WithoutAConnectionStringTheApiServesStateFromTheEmbeddedStore()
    {
        await using var api = new HornbeamApiFactory(null, TestPrefix.New());
        var client = api.CreateClient();

        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync("/state/user:1", Http.Json("{\"name\":\"Alice\"}"))).StatusCode);
        Assert.Equal("Alice", (await (await client.GetAsync("/state/user:1")).ReadJsonAsync())
            .GetProperty("value").GetProperty("name").GetString());
        await client.PutAsync("/state/n", Http.Json("41"));
        Assert.Equal(42, (await (await client.PostAsync("/state/incr/n", null)).ReadJsonAsync()).GetProperty("value").GetInt64());
        Assert.Equal(1, (await (await client.PostAsync("/state/incr/views:/home", null)).ReadJsonAsync()).GetProperty("value").GetInt64());
        var keys = await (await client.GetAsync("/state?prefix=user:")).ReadJsonAsync();
        Assert.Equal(["user:1"], keys.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray());
        var multi = await (await client.PostAsync("/state/multi", Http.Json("{\"keys\":[\"n\",\"none\"]}"))).ReadJsonAsync();
        Assert.Equal(42, multi.GetProperty("values").GetProperty("n").GetInt64());
    }

    [Theory]
    [InlineData("Production")]
    [InlineData("Testing")]
    public async Task OutsideDevelopmentAHostWithoutAConnectionStringDoesNotStart(string environment)
    {
        await using var api = new HornbeamApiFactory(null, TestPrefix.New(), environment: environment);

        // Program.cs returns before it builds a host, which WebApplicationFactory reports as an entry point that exited.
        var e = Assert.Throws<InvalidOperationException>(() => api.CreateClient());
        Assert.Contains("entry point exited", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AProductionProcessWithoutAConnectionStringSaysWhatToSetAndExitsWithoutAStackTrace()
    {
        var start = new ProcessStartInfo("dotnet", [ApiProcess.ApiDll()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ConnectionStrings__Redis");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;

        Assert.Equal(1, process.ExitCode);
        Assert.Contains("No ConnectionStrings:Redis is set", output);
        Assert.Contains("ConnectionStrings__Redis=host:6379", output);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.DoesNotContain("   at ", output);
    }
}
