namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// Two hosts on one key prefix, as two replicas behind a load balancer: a class fixture for tests that neither stop a
/// host nor change a setting. The hosts are shared, so each test uses keys or topics of its own.
/// </summary>
public sealed class ReplicaPair : IAsyncLifetime
{
    public HornbeamApiFactory A { get; private set; } = null!;
    public HornbeamApiFactory B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var prefix = TestPrefix.New();
        A = await HornbeamApiFactory.StartAsync(prefix);
        B = await HornbeamApiFactory.StartAsync(prefix);
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}
