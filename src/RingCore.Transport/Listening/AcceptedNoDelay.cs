using RingCore.Transport.Interop;

namespace RingCore.Transport.Listening;

/// <summary>
/// Whether one listener's accepted TCP connections still need TCP_NODELAY set one by one. Linux accepts a
/// connection as a copy of the listening socket, TCP_NODELAY included, so a listener created with the option saves
/// a setsockopt(2) per connection. That is checked, not assumed: the first connection the listener accepts is asked
/// with getsockopt(2); if it came without the option (an adopted listening socket that lacks it, a kernel that does
/// not copy it) every connection gets it set, as Kestrel's Sockets transport does.
/// </summary>
internal sealed unsafe class AcceptedNoDelay
{
    private const int Unknown = 0, Inherited = 1, SetEach = 2;

    private readonly bool _wanted;
    private int _state; // Unknown until the first connection; the rings of one listener may race to it, harmlessly

    public AcceptedNoDelay(bool wanted) => _wanted = wanted;

    /// <summary>
    /// True when the caller must set TCP_NODELAY on <paramref name="fd"/>, a connection this listener accepted;
    /// <paramref name="syscalls"/> is the getsockopt this call made, if any (for the ring's counters).
    /// </summary>
    public bool MustSet(int fd, out int syscalls)
    {
        syscalls = 0;
        if (!_wanted)
        {
            return false;
        }
        int state = Volatile.Read(ref _state);
        if (state == Unknown)
        {
            syscalls = 1;
            int value = 0, length = sizeof(int);
            bool inherited = Libc.getsockopt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, &value, &length) == 0 && value != 0;
            state = inherited ? Inherited : SetEach;
            Volatile.Write(ref _state, state);
        }
        return state == SetEach;
    }

    /// <summary>Sets TCP_NODELAY on a listening socket so that its connections inherit it; best effort (see above).</summary>
    public static void SetOnListener(int listenFd)
    {
        int one = 1;
        Libc.setsockopt(listenFd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, &one, sizeof(int));
    }
}
