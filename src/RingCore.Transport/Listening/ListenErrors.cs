using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;

namespace RingCore.Transport.Listening;

/// <summary>
/// The exceptions a failed socket/setsockopt/bind/listen becomes, typed as Kestrel's Sockets transport types them.
/// Kestrel's address binding depends on the type: it treats an IOException as final (for it, "address in use"),
/// wraps an <see cref="AddressInUseException"/> into that IOException, and answers anything else on an any-IP or
/// localhost address by trying the other address family. So an error here must never be an IOException.
/// </summary>
internal static class ListenErrors
{
    /// <summary>
    /// The exception for <paramref name="call"/> on <paramref name="endPoint"/> failing with <paramref name="errno"/>:
    /// an <see cref="AddressInUseException"/> (over a SocketException) for EADDRINUSE, else a SocketException.
    /// </summary>
    public static Exception Failed(string call, EndPoint endPoint, int errno)
    {
        string message = $"{call} for {endPoint} failed: {Errno.Describe(errno)}";
        var socketError = new SocketException((int)SocketErrors.ToSocketError(errno), message);
        return errno == Errno.EADDRINUSE ? new AddressInUseException(message, socketError) : socketError;
    }
}
