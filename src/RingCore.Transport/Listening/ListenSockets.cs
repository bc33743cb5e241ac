using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;

namespace RingCore.Transport.Listening;

/// <summary>Creates, binds and listens on listening sockets, synchronously, with Kestrel's error mapping.</summary>
internal static unsafe class ListenSockets
{
    /// <summary>
    /// One SO_REUSEPORT socket per ring thread, all on the same address and port (port 0: the port the kernel
    /// picks for the first). Returns the fds and the real endpoint.
    /// </summary>
    public static (int[] Fds, IPEndPoint EndPoint) BindTcpGroup(IPEndPoint endPoint, int count, int backlog)
    {
        bool dualMode = endPoint.Address.Equals(IPAddress.IPv6Any);
        if (endPoint.Port != 0)
        {
            // SO_REUSEPORT would let us join another process's group on the same port and silently split its
            // traffic. A plain bind first gives the EADDRINUSE a server is expected to report.
            CloseQuietly(BindOne(endPoint, dualMode, reusePort: false));
        }

        var fds = new List<int>(count);
        try
        {
            IPEndPoint bound = endPoint;
            for (int i = 0; i < count; i++)
            {
                int fd = BindOne(bound, dualMode, reusePort: true);
                fds.Add(fd);
                if (i == 0)
                {
                    bound = (IPEndPoint)SocketAddressCodec.GetLocal(fd, endPoint.AddressFamily)!;
                }
                Listen(fd, backlog, endPoint);
            }
            return (fds.ToArray(), bound);
        }
        catch
        {
            fds.ForEach(CloseQuietly);
            throw;
        }
    }

    private static int BindOne(IPEndPoint endPoint, bool dualMode, bool reusePort)
    {
        int domain = endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? Libc.AF_INET6 : Libc.AF_INET;
        int fd = NewSocket(domain, endPoint);
        try
        {
            Libc.SetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
            if (reusePort)
            {
                Libc.SetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_REUSEPORT, 1);
            }
            if (dualMode)
            {
                Libc.SetIntOption(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, 0);
            }
            Bind(fd, endPoint);
            return fd;
        }
        catch
        {
            CloseQuietly(fd);
            throw;
        }
    }

    /// <summary>A Unix domain socket; an existing file at the path is an address in use, as with Kestrel.</summary>
    public static int BindUnix(UnixDomainSocketEndPoint endPoint, int backlog)
    {
        int fd = NewSocket(Libc.AF_UNIX, endPoint);
        try
        {
            Bind(fd, endPoint);
            Listen(fd, backlog, endPoint);
            return fd;
        }
        catch
        {
            CloseQuietly(fd);
            throw;
        }
    }

    /// <summary>An already-open socket (e.g. systemd socket activation); not owned, as with Kestrel.</summary>
    public static (int Fd, AddressFamily Family, EndPoint EndPoint) AdoptFileHandle(FileHandleEndPoint endPoint, int backlog)
    {
        int fd = checked((int)endPoint.FileHandle);
        int domain;
        try
        {
            domain = Libc.GetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_DOMAIN);
            if (Libc.GetIntOption(fd, Libc.SOL_SOCKET, Libc.SO_TYPE) != Libc.SOCK_STREAM)
            {
                throw new NotSupportedException($"File handle {fd} is not a stream socket.");
            }
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException($"File handle {fd} is not a socket that can listen: {ex.Message}", ex);
        }
        Listen(fd, backlog, endPoint);
        AddressFamily family = SocketAddressCodec.FamilyOf(domain);
        return (fd, family, SocketAddressCodec.GetLocal(fd, family) ?? endPoint);
    }

    /// <summary>Removes the file of a path-bound Unix socket (not an abstract one).</summary>
    public static void UnlinkUnixPath(UnixDomainSocketEndPoint endPoint)
    {
        string? path = endPoint.ToString();
        if (string.IsNullOrEmpty(path) || path[0] == '\0' || path[0] == '@')
        {
            return;
        }
        byte[] bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            Libc.unlink(p);
        }
    }

    private static int NewSocket(int domain, EndPoint endPoint)
    {
        int fd = Libc.socket(domain, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"socket() for {endPoint} failed: {Errno.Describe(Libc.LastErrno)}");
        }
        return fd;
    }

    private static void Bind(int fd, EndPoint endPoint)
    {
        byte[] address = SocketAddressCodec.ToNative(endPoint);
        fixed (byte* p = address)
        {
            if (Libc.bind(fd, p, address.Length) == 0)
            {
                return;
            }
        }
        int errno = Libc.LastErrno;
        string message = $"Failed to bind to address {endPoint}: {Errno.Describe(errno)}";
        throw errno == Errno.EADDRINUSE
            ? new AddressInUseException(message, new SocketException((int)SocketError.AddressAlreadyInUse))
            : new IOException(message);
    }

    private static void Listen(int fd, int backlog, EndPoint endPoint)
    {
        if (Libc.listen(fd, backlog) != 0)
        {
            int errno = Libc.LastErrno;
            string message = $"listen() on {endPoint} failed: {Errno.Describe(errno)}";
            throw errno == Errno.EADDRINUSE ? new AddressInUseException(message) : new IOException(message);
        }
    }

    public static void CloseQuietly(int fd) => Libc.close(fd);
}
