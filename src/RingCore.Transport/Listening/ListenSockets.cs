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
    /// picks for the first). Returns the fds and the real endpoint. With <paramref name="noDelay"/> each carries
    /// TCP_NODELAY for its connections to inherit (<see cref="AcceptedNoDelay"/>).
    /// </summary>
    public static (int[] Fds, IPEndPoint EndPoint) BindTcpGroup(IPEndPoint endPoint, int count, int backlog, bool noDelay)
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
                if (noDelay)
                {
                    AcceptedNoDelay.SetOnListener(fd);
                }
                if (i == 0)
                {
                    bound = LocalEndPoint(fd, endPoint);
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
            SetOption(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1, "SO_REUSEADDR", endPoint);
            if (reusePort)
            {
                SetOption(fd, Libc.SOL_SOCKET, Libc.SO_REUSEPORT, 1, "SO_REUSEPORT", endPoint);
            }
            if (dualMode)
            {
                // Kestrel's [::] means IPv6 and IPv4 (as the Sockets transport's DualMode).
                SetOption(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, 0, "IPV6_V6ONLY", endPoint);
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

    // Every failure below is a SocketException (AddressInUseException for EADDRINUSE), never an IOException: see
    // ListenErrors for why Kestrel's IPv6-to-IPv4 and localhost fallbacks depend on it.

    private static int NewSocket(int domain, EndPoint endPoint)
    {
        int fd = Libc.socket(domain, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            string family = domain switch { Libc.AF_INET6 => "AF_INET6", Libc.AF_INET => "AF_INET", _ => "AF_UNIX" };
            throw ListenErrors.Failed($"socket({family})", endPoint, Libc.LastErrno);
        }
        return fd;
    }

    private static void SetOption(int fd, int level, int option, int value, string optionName, EndPoint endPoint)
    {
        if (Libc.setsockopt(fd, level, option, &value, sizeof(int)) != 0)
        {
            throw ListenErrors.Failed($"setsockopt({optionName} = {value})", endPoint, Libc.LastErrno);
        }
    }

    private static void Bind(int fd, EndPoint endPoint)
    {
        byte[] address = SocketAddressCodec.ToNative(endPoint);
        fixed (byte* p = address)
        {
            if (Libc.bind(fd, p, address.Length) != 0)
            {
                throw ListenErrors.Failed("bind()", endPoint, Libc.LastErrno);
            }
        }
    }

    private static void Listen(int fd, int backlog, EndPoint endPoint)
    {
        if (Libc.listen(fd, backlog) != 0)
        {
            throw ListenErrors.Failed($"listen(backlog {backlog})", endPoint, Libc.LastErrno);
        }
    }

    private static IPEndPoint LocalEndPoint(int fd, IPEndPoint endPoint) =>
        SocketAddressCodec.GetLocal(fd, endPoint.AddressFamily) as IPEndPoint
            ?? throw ListenErrors.Failed("getsockname()", endPoint, Libc.LastErrno);

    public static void CloseQuietly(int fd) => Libc.close(fd);
}
