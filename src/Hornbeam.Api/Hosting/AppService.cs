namespace Hornbeam.Api.Hosting;

/// <summary>
/// A singleton service a hot route takes from the app's services on its first request, instead of binding it as a
/// handler parameter. A bound service is resolved from the request's services, and the first such resolution opens a DI
/// scope, registers it for disposal at the end of the response and disposes it: about a microsecond of a request that
/// otherwise needs no scope. Use it only for services registered as singletons.
/// </summary>
internal sealed class AppService<T>(IServiceProvider services) where T : notnull
{
    private T? _value;

    // Two first requests at once may both resolve it; a singleton resolves to the same instance either way.
    public T Value => _value ??= services.GetRequiredService<T>();
}
