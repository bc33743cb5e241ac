using System.Runtime.InteropServices;

namespace RingCore.Transport.Interop;

/// <summary>
/// The libc entry points the transport needs. Everything is a thin LibraryImport; callers read errno
/// with <see cref="Marshal.GetLastPInvokeError"/>.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    // syscall(2) is variadic; on the 64-bit Linux ABIs integer arguments go in the same registers either way.
    [LibraryImport(Lib, SetLastError = true)]
    public static partial long syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int munmap(void* addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, void* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, void* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int bind(int fd, byte* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int optname, void* optval, int optlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int optname, void* optval, int* optlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockname(int fd, byte* addr, int* addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getpeername(int fd, byte* addr, int* addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint send(int fd, void* buf, nuint len, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint sendmsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int connect(int fd, byte* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int accept4(int fd, byte* addr, int* addrlen, int flags);

    /// <summary>fcntl with one int argument (F_DUPFD_CLOEXEC, F_SETFL); the variadic argument is passed as an int.</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* sv);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int gettid();

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int unlink(byte* path);

    public const int PROT_READ = 0x1, PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;
    public static readonly void* MAP_FAILED = (void*)-1;

    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;

    public const int AF_UNSPEC = 0, AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
    public const int SOCK_STREAM = 1, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1, IPPROTO_TCP = 6, IPPROTO_IPV6 = 41;
    public const int SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_LINGER = 13, SO_REUSEPORT = 15, SO_ACCEPTCONN = 30, SO_DOMAIN = 39;
    public const int TCP_NODELAY = 1;
    public const uint POLLIN = 0x0001, POLLOUT = 0x0004, POLLERR = 0x0008, POLLHUP = 0x0010, POLLRDHUP = 0x2000; // include/uapi/asm-generic/poll.h
    public const int F_GETFL = 3, F_SETFL = 4, F_DUPFD_CLOEXEC = 1030;
    public const int IPV6_V6ONLY = 26;
    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public const int MSG_NOSIGNAL = 0x4000, MSG_WAITALL = 0x100, MSG_DONTWAIT = 0x40;

    /// <summary>Returns errno of the last call made through this class.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    public static void SetIntOption(int fd, int level, int name, int value)
    {
        if (setsockopt(fd, level, name, &value, sizeof(int)) != 0)
        {
            throw new IOException($"setsockopt({level}, {name}) failed: {Errno.Describe(LastErrno)}");
        }
    }

    public static int GetIntOption(int fd, int level, int name)
    {
        int value = 0, len = sizeof(int);
        if (getsockopt(fd, level, name, &value, &len) != 0)
        {
            throw new IOException($"getsockopt({level}, {name}) failed: {Errno.Describe(LastErrno)}");
        }
        return value;
    }
}

/// <summary>struct linger.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Linger
{
    public int OnOff;
    public int Seconds;
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal unsafe struct IoVec
{
    public void* Base;
    public nuint Length;
}

/// <summary>struct msghdr (56 bytes on 64-bit Linux).</summary>
[StructLayout(LayoutKind.Sequential, Size = 56)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLen;
    public IoVec* Iov;
    public nuint IovLen;
    public void* Control;
    public nuint ControlLen;
    public int Flags;
}
