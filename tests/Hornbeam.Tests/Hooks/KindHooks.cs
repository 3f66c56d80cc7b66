namespace Hornbeam.Tests.Hooks;

/// <summary>Hooks that fail with the error kind their caller names: at once, or after the first chunk of a stream.</summary>
public sealed class KindHooks
{
    public void Throw(string code) => throw Kind(code);

    public async IAsyncEnumerable<int> StreamThenThrow(string code)
    {
        await Task.Yield();
        yield return 1;
        throw Kind(code);
    }

    private static HornbeamException Kind(string code) =>
        new(HornbeamErrors.TryParse(code, out var kind) ? kind : throw new ArgumentException(code), $"hook says {code}");
}
