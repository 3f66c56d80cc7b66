namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// A class fixture: one API host on the tests' Redis, with a key prefix of its own, and a client of it. A test class that
/// needs nothing more of its host takes this (<c>IClassFixture&lt;ApiHost&gt;</c>); each test then uses keys of its own.
/// </summary>
public sealed class ApiHost : IAsyncLifetime
{
    public HornbeamApiFactory Api { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Api = await HornbeamApiFactory.StartAsync();
        Client = Api.CreateClient();
    }

    public async Task DisposeAsync() => await Api.DisposeAsync();
}
