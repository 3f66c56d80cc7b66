using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hornbeam.Tests.Browser;

/// <summary>
/// A web site on a port of its own that serves one empty page: a browser's scripts on that page run on another origin
/// than the API's, as a user's web application does, so CORS applies to them (a data: URL would be an opaque origin).
/// </summary>
public sealed class OriginServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OriginServer(WebApplication app, Uri page)
    {
        _app = app;
        Page = page;
    }

    /// <summary>The page to open, <c>http://127.0.0.1:port/</c>.</summary>
    public Uri Page { get; }

    /// <summary>What the browser sends as <c>Origin</c> from that page.</summary>
    public string Origin => Page.GetLeftPart(UriPartial.Authority);

    public static async Task<OriginServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/", () => Results.Content("<!doctype html><title>another origin</title>", "text/html"));
        await app.StartAsync();
        return new OriginServer(app, new Uri(app.Urls.Single()));
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
