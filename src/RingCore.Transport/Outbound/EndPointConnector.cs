using System.Net;
using System.Net.Sockets;

namespace RingCore.Transport.Outbound;

/// <summary>
/// Turns the endpoint a caller names into connect attempts, as Socket.ConnectAsync does: an IP or Unix endpoint
/// is one attempt; a <see cref="DnsEndPoint"/> is resolved and its addresses are tried in the order the resolver
/// gives them (IPv6 and IPv4, unless the endpoint names a family) until one connects; if none does, the last
/// attempt's error is the one reported.
/// </summary>
internal static class EndPointConnector
{
    public static async Task<T> ConnectAsync<T>(EndPoint endpoint, Func<EndPoint, CancellationToken, Task<T>> connectOne, CancellationToken cancellationToken)
    {
        switch (endpoint)
        {
            case IPEndPoint or UnixDomainSocketEndPoint:
                return await connectOne(endpoint, cancellationToken).ConfigureAwait(false);
            case DnsEndPoint dns:
                IPAddress[] addresses = await ResolveAsync(dns, cancellationToken).ConfigureAwait(false);
                return await ConnectAnyAsync(addresses.Select(a => new IPEndPoint(a, dns.Port)).ToArray(), connectOne, cancellationToken).ConfigureAwait(false);
            default:
                throw new NotSupportedException($"RingCore cannot connect to {endpoint.GetType().Name} endpoints.");
        }
    }

    /// <summary>Tries each endpoint in order; the first that connects wins, else the last error is thrown.</summary>
    public static async Task<T> ConnectAnyAsync<T>(IReadOnlyList<IPEndPoint> endpoints, Func<EndPoint, CancellationToken, Task<T>> connectOne, CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (IPEndPoint candidate in endpoints)
        {
            try
            {
                return await connectOne(candidate, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                last = ex; // this address refused, timed out or cannot be reached: the next one may do
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound, "No address to connect to.");
    }

    private static async Task<IPAddress[]> ResolveAsync(DnsEndPoint dns, CancellationToken cancellationToken)
    {
        AddressFamily family = dns.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 ? dns.AddressFamily : AddressFamily.Unspecified;
        IPAddress[] addresses = await Dns.GetHostAddressesAsync(dns.Host, family, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound, $"{dns.Host} has no address.");
        }
        return addresses;
    }
}
