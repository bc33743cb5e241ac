using System.Net;
using System.Net.Sockets;

namespace RingCore.Transport.Interop;

/// <summary>
/// Converts between EndPoints and native sockaddr bytes. On Linux, .NET's SocketAddress buffer holds the
/// native sockaddr layout, so the runtime's own serializers do the byte work.
/// </summary>
internal static unsafe class SocketAddressCodec
{
    public const int MaxSize = 128; // sizeof(struct sockaddr_storage)

    public static byte[] ToNative(EndPoint endPoint)
    {
        SocketAddress address = endPoint.Serialize();
        return address.Buffer.Span[..address.Size].ToArray();
    }

    public static EndPoint? FromNative(ReadOnlySpan<byte> native, AddressFamily family)
    {
        if (native.Length < 2)
        {
            return null;
        }
        var address = new SocketAddress(family, native.Length);
        native.CopyTo(address.Buffer.Span);
        try
        {
            return family switch
            {
                AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 => new IPEndPoint(IPAddress.Any, 0).Create(address),
                AddressFamily.Unix => new UnixDomainSocketEndPoint("/").Create(address),
                _ => null,
            };
        }
        catch (ArgumentException)
        {
            return null; // e.g. an unnamed Unix socket peer
        }
    }

    public static AddressFamily FamilyOf(int nativeDomain) => nativeDomain switch
    {
        Libc.AF_INET => AddressFamily.InterNetwork,
        Libc.AF_INET6 => AddressFamily.InterNetworkV6,
        Libc.AF_UNIX => AddressFamily.Unix,
        _ => AddressFamily.Unknown,
    };

    public static EndPoint? GetLocal(int fd, AddressFamily family) => Query(fd, family, peer: false);

    public static EndPoint? GetRemote(int fd, AddressFamily family) => Query(fd, family, peer: true);

    private static EndPoint? Query(int fd, AddressFamily family, bool peer)
    {
        byte* buffer = stackalloc byte[MaxSize];
        int length = MaxSize;
        int rc = peer ? Libc.getpeername(fd, buffer, &length) : Libc.getsockname(fd, buffer, &length);
        if (rc != 0)
        {
            return null;
        }
        return FromNative(new ReadOnlySpan<byte>(buffer, Math.Min(length, MaxSize)), family);
    }
}
