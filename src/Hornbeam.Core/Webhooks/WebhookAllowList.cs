using System.Net;
using System.Net.Sockets;

namespace Hornbeam.Webhooks;

/// <summary>
/// <c>Hornbeam:Webhooks:AllowedHosts</c> parsed. Each entry names a host and a port: <c>host:port</c>, <c>[v6]:port</c>,
/// <c>address/prefix:port</c> (CIDR), or <c>http(s)://host:port</c> for one scheme only; without a port an entry allows the
/// URL scheme's default port alone (80 for http, 443 for https), so an allowed host's other services stay out of reach.
/// A name entry trusts what the name resolves to; an address or CIDR entry is checked against the address connected to,
/// which is resolved once, checked, and then connected to (<see cref="ConnectAsync"/>), so DNS cannot rebind in between.
/// </summary>
internal sealed class WebhookAllowList
{
    private readonly Entry[] _entries;

    public WebhookAllowList(IEnumerable<string> entries)
    {
        Texts = entries.Select(e => e.Trim()).ToArray();
        _entries = Texts.Select(text => TryParse(text, out var entry, out var error) ? entry
            : throw new ArgumentException($"Hornbeam:Webhooks:AllowedHosts entry '{text}' {error}")).ToArray();
    }

    /// <summary>The entries as configured, for messages.</summary>
    public IReadOnlyList<string> Texts { get; }

    public bool IsEmpty => _entries.Length == 0;

    /// <summary>
    /// Checks a URL before anything is resolved: <see cref="Verdict.ByAddress"/> means its host is a name that only
    /// address or CIDR entries could allow, so the address it resolves to decides.
    /// </summary>
    public Verdict Check(Uri uri)
    {
        var address = AddressOf(uri);
        var pending = false;
        foreach (var entry in _entries.Where(e => e.Allows(uri.Scheme, uri.Port)))
        {
            if (address is null ? entry.Name == NameOf(uri) : entry.Network?.Contains(address) == true) return Verdict.Allowed;
            pending |= address is null && entry.Network is not null;
        }
        return pending ? Verdict.ByAddress : Verdict.Refused;
    }

    /// <summary>Whether a connection for <paramref name="uri"/> may go to <paramref name="address"/>.</summary>
    public bool Allows(Uri uri, IPAddress address)
    {
        address = Canonical(address);
        var name = AddressOf(uri) is null ? NameOf(uri) : null;
        return _entries.Any(e =>
            e.Allows(uri.Scheme, uri.Port) && ((name is not null && e.Name == name) || e.Network?.Contains(address) == true));
    }

    /// <summary>
    /// The addresses <paramref name="uri"/>'s host resolves to now that the list allows; throws Forbidden when none, and
    /// a <see cref="SocketException"/> when the name does not resolve (an unreachable host, not a refusal).
    /// </summary>
    public async Task<IPAddress[]> AllowedAddressesAsync(Uri uri, string host, CancellationToken ct)
    {
        var resolved = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = resolved.Where(a => Allows(uri, a)).ToArray();
        if (allowed.Length == 0)
            throw new HornbeamException(HornbeamError.Forbidden,
                $"host '{host}' resolves to {(resolved.Length == 0 ? "no address" : string.Join(", ", resolved.Select(Canonical)))}, "
                + "and no entry of Hornbeam:Webhooks:AllowedHosts "
                + $"({string.Join(", ", Texts)}) allows that address on port {uri.Port}.");
        return allowed;
    }

    /// <summary>
    /// The webhook client's connect step: resolves the host once, keeps the addresses the list allows (Forbidden when
    /// none), and connects to one of them, so the address checked is the address connected to.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(Uri uri, DnsEndPoint endpoint, CancellationToken ct)
    {
        var addresses = await AllowedAddressesAsync(uri, endpoint.Host, ct);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Parses one entry; false with what is wrong when it is not one of the documented forms.</summary>
    public static bool TryParse(string text, out Entry entry, out string error)
    {
        entry = default!;
        error = "";
        var s = text.Trim();
        if (s.Length == 0 || s.Contains('*'))
        {
            error = "is empty or has a wildcard: name each host with its port, e.g. hooks.internal:8080.";
            return false;
        }
        string? scheme = null;
        string host;
        int? port = null;
        if (s.Contains("://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(s, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0
                || uri.PathAndQuery != "/" || uri.Fragment.Length > 0)
            {
                error = "is not a URL of the form http://host:port or https://host:port (no path, query or credentials).";
                return false;
            }
            scheme = uri.Scheme;
            port = uri.Port;
            host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host;
        }
        else if (!SplitHostPort(s, out host, out port))
        {
            error = "has a port that is not a number from 1 to 65535.";
            return false;
        }

        if (host.Contains('/'))
        {
            // 10.0.0.1/8 is most likely a typo for a single address or for 10.0.0.0/8, so it is refused, not masked.
            if (!IPNetwork.TryParse(host, out var network) || !IPAddress.TryParse(host[..host.IndexOf('/')], out var baseAddress)
                || !baseAddress.Equals(network.BaseAddress))
            {
                error = "is neither host:port nor an address range such as 10.0.0.0/8:8080 (no bits set past the prefix).";
                return false;
            }
            entry = new Entry(scheme, port, null, network);
            return true;
        }
        if (!Uri.TryCreate($"http://{(host.Contains(':') ? $"[{host}]" : host)}/", UriKind.Absolute, out var parsed)
            || parsed.PathAndQuery != "/" || parsed.UserInfo.Length > 0 || parsed.Fragment.Length > 0
            || parsed.HostNameType is not (UriHostNameType.Dns or UriHostNameType.Basic or UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            error = "is not a host name or address, optionally with :port.";
            return false;
        }
        var address = AddressOf(parsed);
        entry = address is null
            ? new Entry(scheme, port, NameOf(parsed), null)
            : new Entry(scheme, port, null, new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
        return true;
    }

    // host, host:port, [v6], [v6]:port, or a bare IPv6 address or range (more than one colon, so no port).
    private static bool SplitHostPort(string s, out string host, out int? port)
    {
        port = null;
        string? portText = null;
        if (s.StartsWith('[') && s.IndexOf(']') is > 0 and var close)
        {
            host = s[1..close];
            var rest = s[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':') return false;
                portText = rest[1..];
            }
        }
        else if (s.Count(c => c == ':') == 1)
        {
            host = s[..s.IndexOf(':')];
            portText = s[(s.IndexOf(':') + 1)..];
        }
        else
        {
            host = s;
        }
        if (portText is null) return true;
        if (portText.Length is 0 or > 5 || !portText.All(char.IsAsciiDigit) || int.Parse(portText) is < 1 or > 65535) return false;
        port = int.Parse(portText);
        return true;
    }

    private static IPAddress? AddressOf(Uri uri) =>
        uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(uri.Host.Trim('[', ']'), out var a)
            ? Canonical(a)
            : null;

    // Names compare as DNS does: without case and without a trailing dot.
    private static string NameOf(Uri uri) => uri.IdnHost.TrimEnd('.').ToLowerInvariant();

    // ::ffff:10.0.0.1 is 10.0.0.1 on the wire, so it must meet the same entries.
    private static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>A parsed entry: a scheme (or either), a port (or the scheme's default), and a host name or an address range.</summary>
    internal sealed record Entry(string? Scheme, int? Port, string? Name, IPNetwork? Network)
    {
        public bool Allows(string scheme, int port) =>
            (Scheme is null || Scheme == scheme) && (Port ?? (scheme == Uri.UriSchemeHttps ? 443 : 80)) == port;
    }

    /// <summary>What <see cref="Check"/> says of a URL.</summary>
    internal enum Verdict
    {
        /// <summary>An entry allows its scheme, host and port.</summary>
        Allowed,

        /// <summary>Its host is a name only address or CIDR entries could allow: the address it resolves to decides.</summary>
        ByAddress,

        /// <summary>No entry allows it.</summary>
        Refused,
    }
}
