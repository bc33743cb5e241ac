using System.Runtime.InteropServices;
using RingCore.Transport.Interop;

namespace RingCore.Transport.Connections;

/// <summary>
/// The fd of one socket (an accepted connection or a listening socket), reference-counted so that a thread other than the ring's can act on the socket
/// (abort it at once, duplicate it for the application's Socket) without ever reaching a different file that
/// happens to get the same number after the ring closed it. The ring holds its own reference while it has
/// operations on the fd and disposes the handle when the last one completed; the fd is closed when the last
/// user lets go.
/// </summary>
internal sealed unsafe class RingSocketHandle : SafeHandle
{
    public RingSocketHandle(int fd, bool ownsFd = true) : base(invalidHandleValue: -1, ownsHandle: ownsFd) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    /// <summary>The fd number; only for the ring thread, which keeps the handle open while it uses it.</summary>
    public int Fd => (int)handle;

    /// <summary>
    /// Ends the connection at the socket level, now, from any thread: FIN (shutdown) or RST. A TCP RST without
    /// closing the fd is a disconnect (connect with AF_UNSPEC makes the kernel reset an established connection),
    /// so the fd number stays ours until the ring has finished with it. False when the fd is already closed.
    /// </summary>
    public bool TryEndNow(bool reset, bool isTcp)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            int fd = Fd;
            if (reset && isTcp)
            {
                var linger = new Linger { OnOff = 1, Seconds = 0 };
                Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, &linger, sizeof(Linger));
                ushort unspec = Libc.AF_UNSPEC;
                Libc.connect(fd, (byte*)&unspec, sizeof(ushort));
            }
            else
            {
                Libc.shutdown(fd, Libc.SHUT_RDWR);
            }
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>A new fd for the same socket (close-on-exec dup), owned by the caller; -1 when this one is already closed.</summary>
    public int TryDuplicate()
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            return Libc.fcntl(Fd, Libc.F_DUPFD_CLOEXEC, 0);
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
