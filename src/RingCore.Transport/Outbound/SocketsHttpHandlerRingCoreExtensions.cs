using RingCore.Transport;
using RingCore.Transport.Outbound;

namespace System.Net.Http;

/// <summary>HttpClient over RingCore's rings.</summary>
public static class SocketsHttpHandlerRingCoreExtensions
{
    /// <summary>
    /// Makes <paramref name="handler"/> open its connections through <paramref name="factory"/> (its
    /// ConnectCallback): every byte of its HTTP/1.1 and HTTP/2 traffic, TLS included, goes over io_uring. Pooling,
    /// timeouts and proxies-free settings of the handler work as before; connect failures surface as the same
    /// <see cref="HttpRequestException"/> (HttpRequestError.ConnectionError over a SocketException) as with
    /// Sockets. Returns the handler.
    /// </summary>
    public static SocketsHttpHandler UseRingCore(this SocketsHttpHandler handler, RingCoreConnectionFactory factory)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(factory);
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var connection = await factory.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new ConnectionStream(connection);
        };
        return handler;
    }
}
