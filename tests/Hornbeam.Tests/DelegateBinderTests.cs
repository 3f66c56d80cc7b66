using System.Text.Json;
using Hornbeam.Hooks;

namespace Hornbeam.Tests;

/// <summary>The one binder behind RPC functions and C# hooks: results awaited by type, arguments bound by position and name.</summary>
public sealed class DelegateBinderTests
{
    private static readonly IReadOnlyList<JsonElement> NoArgs = [];

    private static async Task<string> CallAsync(Delegate function, params object[] args)
    {
        var json = args.Select(a => JsonSerializer.SerializeToElement(a)).ToArray();
        var binder = DelegateBinder.For(function, HookJson.Options);
        return (await binder.InvokeJsonAsync("test", json, null, CancellationToken.None)).GetRawText();
    }

    [Fact]
    public async Task EveryKindOfResultIsAwaitedByItsType()
    {
        Assert.Equal("null", await CallAsync(() => { }));
        Assert.Equal("null", await CallAsync(async () => await Task.Yield()));
        Assert.Equal("null", await CallAsync(async ValueTask () => await Task.Yield()));
        Assert.Equal("3", await CallAsync(async (int a) => { await Task.Yield(); return a + 1; }, 2));
        Assert.Equal("\"v\"", await CallAsync(async ValueTask<string> () => { await Task.Yield(); return "v"; }));
        Assert.Equal("{\"max_tokens\":4}", await CallAsync(() => new { MaxTokens = 4 }));
    }

    [Fact]
    public async Task AResultDeclaredAsObjectIsAwaitedByWhatItIs()
    {
        async Task Nothing() => await Task.Yield();
        Assert.Equal("null", await CallAsync(object () => Nothing()));
        Assert.Equal("5", await CallAsync(object () => Task.FromResult(5)));
        Assert.Equal("6", await CallAsync(object () => new ValueTask<int>(6)));
        Assert.Equal("null", await CallAsync(object () => ValueTask.CompletedTask));
    }

    [Fact]
    public async Task KeywordArgumentsBindByNameIgnoringCaseAndUnderscoresAndTheTokenIsInjected()
    {
        var binder = DelegateBinder.For(
            (string text, CancellationToken ct, int maxTokens = 2) => $"{text}:{maxTokens}:{ct.CanBeCanceled}", HookJson.Options);
        using var cts = new CancellationTokenSource();
        var kwargs = new Dictionary<string, JsonElement> { ["max_tokens"] = JsonSerializer.SerializeToElement(7) };
        var result = await binder.InvokeJsonAsync("f", [JsonSerializer.SerializeToElement("hi")], kwargs, cts.Token);
        Assert.Equal("hi:7:True", result.GetString());
        Assert.Equal(["text", "maxTokens"], binder.Parameters);
    }

    [Fact]
    public async Task ArgumentsThatDoNotFitAreInvalidInputNamingTheParameter()
    {
        var binder = DelegateBinder.For((long a, long b) => a + b, HookJson.Options);
        var count = Assert.Throws<HornbeamException>(() => binder.Bind("function 'add'", NoArgs, null, default));
        Assert.Equal(HornbeamError.InvalidInput, count.Error);
        Assert.Equal("function 'add' takes 2 argument(s) (a, b); 0 given.", count.Message);
        IReadOnlyList<JsonElement> wrong = [JsonSerializer.SerializeToElement(1), JsonSerializer.SerializeToElement("x")];
        var type = Assert.Throws<HornbeamException>(() => binder.Bind("function 'add'", wrong, null, default));
        Assert.Contains("parameter 'b' expects Int64", type.Message);
        var failing = DelegateBinder.For(int () => throw new InvalidOperationException("own"), HookJson.Options);
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(
            async () => await failing.InvokeJsonAsync("f", NoArgs, null, default));
        Assert.Equal("own", thrown.Message);
    }
}
