using System.Net.Sockets;

namespace RingCore.Transport.Interop;

/// <summary>errno → <see cref="SocketError"/>, as .NET maps them on Unix, for every socket call the transport makes.</summary>
internal static class SocketErrors
{
    // errno values of the Linux generic ABI (asm-generic/errno-base.h, errno.h) that Errno does not name.
    private const int ENXIO = 6, EFAULT = 14, ENODATA = 61, ENOTSOCK = 88, EDESTADDRREQ = 89, EMSGSIZE = 90,
        EPROTOTYPE = 91, ENOPROTOOPT = 92, EPROTONOSUPPORT = 93, ESOCKTNOSUPPORT = 94, EPFNOSUPPORT = 96,
        EAFNOSUPPORT = 97, ENETUNREACH = 101, ENETRESET = 102, EISCONN = 106, ESHUTDOWN = 108, ECONNREFUSED = 111,
        EHOSTDOWN = 112, EINPROGRESS = 115;

    /// <summary>
    /// errno → SocketError as .NET maps them on Unix (SocketErrorPal.Unix.cs in dotnet/runtime), so that a caller
    /// matching on <see cref="SocketException.SocketErrorCode"/> sees what the Sockets transport would show it.
    /// </summary>
    internal static readonly IReadOnlyDictionary<int, SocketError> ByErrno = new Dictionary<int, SocketError>
    {
        [Errno.EPERM] = SocketError.AccessDenied,
        [Errno.ENOENT] = SocketError.AddressNotAvailable,
        [Errno.EINTR] = SocketError.Interrupted,
        [ENXIO] = SocketError.HostNotFound,
        [Errno.EBADF] = SocketError.OperationAborted,
        [Errno.EAGAIN] = SocketError.WouldBlock,
        [Errno.EACCES] = SocketError.AccessDenied,
        [EFAULT] = SocketError.Fault,
        [Errno.EINVAL] = SocketError.InvalidArgument,
        [Errno.ENFILE] = SocketError.TooManyOpenSockets,
        [Errno.EMFILE] = SocketError.TooManyOpenSockets,
        [Errno.EPIPE] = SocketError.Shutdown,
        [ENODATA] = SocketError.NoData,
        [ENOTSOCK] = SocketError.NotSocket,
        [EDESTADDRREQ] = SocketError.DestinationAddressRequired,
        [EMSGSIZE] = SocketError.MessageSize,
        [EPROTOTYPE] = SocketError.ProtocolType,
        [ENOPROTOOPT] = SocketError.ProtocolOption,
        [EPROTONOSUPPORT] = SocketError.ProtocolNotSupported,
        [ESOCKTNOSUPPORT] = SocketError.SocketNotSupported,
        [Errno.EOPNOTSUPP] = SocketError.OperationNotSupported, // ENOTSUP is the same number on Linux
        [EPFNOSUPPORT] = SocketError.ProtocolFamilyNotSupported,
        [EAFNOSUPPORT] = SocketError.AddressFamilyNotSupported,
        [Errno.EADDRINUSE] = SocketError.AddressAlreadyInUse,
        [Errno.EADDRNOTAVAIL] = SocketError.AddressNotAvailable,
        [Errno.ENETDOWN] = SocketError.NetworkDown,
        [ENETUNREACH] = SocketError.NetworkUnreachable,
        [ENETRESET] = SocketError.NetworkReset,
        [Errno.ECONNABORTED] = SocketError.ConnectionAborted,
        [Errno.ECONNRESET] = SocketError.ConnectionReset,
        [Errno.ENOBUFS] = SocketError.NoBufferSpaceAvailable,
        [EISCONN] = SocketError.IsConnected,
        [Errno.ENOTCONN] = SocketError.NotConnected,
        [ESHUTDOWN] = SocketError.Disconnecting,
        [Errno.ETIMEDOUT] = SocketError.TimedOut,
        [ECONNREFUSED] = SocketError.ConnectionRefused,
        [EHOSTDOWN] = SocketError.HostDown,
        [Errno.EHOSTUNREACH] = SocketError.HostUnreachable,
        [Errno.EALREADY] = SocketError.AlreadyInProgress,
        [EINPROGRESS] = SocketError.InProgress,
        [Errno.ECANCELED] = SocketError.OperationAborted,
    };

    /// <summary>The SocketError .NET reports for <paramref name="errno"/>; <see cref="SocketError.SocketError"/> if none.</summary>
    public static SocketError ToSocketError(int errno) => ByErrno.GetValueOrDefault(errno, SocketError.SocketError);
}
