using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Primitives;

namespace Hornbeam.Api.Hosting;

/// <summary>
/// <c>HEAD</c> is answered like <c>GET</c> (RFC 9110 §9.3.2) on every GET route: the same handler runs and Kestrel sends its
/// status and headers (Content-Length included where the GET sets it) without the body. Streaming routes are left out
/// and answer 405 with <c>Allow: GET</c>: a subscription (<c>text/event-stream</c>) or a WebSocket (101) never ends on its
/// own, so a HEAD would hold its keep-alive connection until the client gave up. The OpenAPI document leaves HEAD out:
/// it adds nothing a GET's description does not say.
/// </summary>
public static class HeadRequests
{
    /// <summary>Adds HEAD to the GET routes mapped so far; call it after the last Map call.</summary>
    public static WebApplication AnswerHeadAsGet(this WebApplication app)
    {
        var sources = ((IEndpointRouteBuilder)app).DataSources;
        var mapped = sources.ToArray();
        sources.Clear();
        foreach (var source in mapped) sources.Add(new HeadAsGetDataSource(source));
        return app;
    }

    private static bool Streams(Endpoint endpoint) =>
        endpoint.Metadata.GetOrderedMetadata<IProducesResponseTypeMetadata>().Any(p =>
            p.StatusCode == StatusCodes.Status101SwitchingProtocols || p.ContentTypes.Contains("text/event-stream"));

    private static Endpoint WithHead(Endpoint endpoint)
    {
        if (endpoint is not RouteEndpoint route || route.Metadata.GetMetadata<HttpMethodMetadata>() is not { } methods
            || !methods.HttpMethods.Contains(HttpMethods.Get) || methods.HttpMethods.Contains(HttpMethods.Head) || Streams(route))
            return endpoint;
        // Routing and the 405's Allow header read the last HttpMethodMetadata; the others are left as they were.
        var metadata = route.Metadata.ToList();
        metadata[metadata.LastIndexOf(methods)] =
            new HttpMethodMetadata([.. methods.HttpMethods, HttpMethods.Head], methods.AcceptCorsPreflight);
        return new RouteEndpoint(route.RequestDelegate!, route.RoutePattern, route.Order, new EndpointMetadataCollection(metadata),
            route.DisplayName);
    }

    /// <summary>The endpoints of a data source, with HEAD added; the composite data source routing reads caches them.</summary>
    private sealed class HeadAsGetDataSource(EndpointDataSource inner) : EndpointDataSource
    {
        public override IReadOnlyList<Endpoint> Endpoints => inner.Endpoints.Select(WithHead).ToArray();

        public override IChangeToken GetChangeToken() => inner.GetChangeToken();
    }
}
