using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Listening;

// Accepting after a takeover moved this acceptor to another io_uring (RingThread.OwnerMove.cs). The held thread's
// io_uring may still have our multishot accept armed until that thread returns and cancels it. An accept waits with
// an exclusive poll (the kernel's accept opcode polls with EPOLLEXCLUSIVE): a new connection wakes only the first
// exclusive waiter on the listening socket, and the held ring's, queued first, takes every wake-up without acting on
// it while its thread is held, so a multishot accept armed on the new ring would wait for ever. So until every
// io_uring the ring moved away from is empty again, the acceptor waits with a multishot poll, which is not exclusive
// and is woken by every arrival, and accepts with accept4(2) on the ring thread until EAGAIN. The listening socket is
// non-blocking meanwhile, so a connection reset between the wake-up and the accept cannot block the ring.
internal sealed unsafe partial class Acceptor
{
    private const byte OpListenReady = 3;
    private const int MaxAcceptsPerWakeup = 4096;

    private bool _pollMode;          // accepting with a poll and accept4 (see the top of this file)
    private bool _listenPollArmed;   // the kernel holds our multishot poll on the listening socket
    private bool _leavingPollMode;   // that poll is being cancelled to go back to the multishot accept
    private bool _wasNonBlocking;    // the listening socket's own O_NONBLOCK, restored when poll mode ends (it may not be ours)

    /// <summary>Every io_uring the ring moved away from is empty: no accept of ours is left armed on any of them.</summary>
    public void OnMovedFromRingsEmptied()
    {
        try
        {
            if (!_pollMode || _stopping)
            {
                return;
            }
            if (_listenPollArmed)
            {
                _leavingPollMode = true; // its last CQE ends poll mode (OnListenReady)
                CancelListenPoll();
                return;
            }
            LeavePollMode();
            Continue();
        }
        catch (Exception ex)
        {
            OnFault(ex);
        }
    }

    private void EnterPollMode()
    {
        if (!_pollMode)
        {
            _pollMode = true;
            _wasNonBlocking = SetListenerNonBlocking(true);
        }
    }

    private void LeavePollMode()
    {
        _pollMode = false;
        _leavingPollMode = false;
        SetListenerNonBlocking(_wasNonBlocking);
    }

    /// <summary>Sets or clears O_NONBLOCK on the listening socket; returns whether it was set before.</summary>
    private bool SetListenerNonBlocking(bool nonBlocking)
    {
        int flags = Libc.fcntl(_listenFd, Libc.F_GETFL, 0);
        _ring.Counters.OtherSyscalls += 2;
        if (flags < 0)
        {
            return false;
        }
        Libc.fcntl(_listenFd, Libc.F_SETFL, nonBlocking ? flags | Libc.O_NONBLOCK : flags & ~Libc.O_NONBLOCK);
        return (flags & Libc.O_NONBLOCK) != 0;
    }

    private void ArmListenPoll()
    {
        _listenPollArmed = true;
        SqePrep.PrepPollMultishot(ref _ring.Ring.GetSqe(), _listenFd, Libc.POLLIN, OperationTable.UserData(_token, OpListenReady));
    }

    private void CancelListenPoll()
    {
        if (_listenPollArmed)
        {
            SqePrep.PrepCancel(ref _ring.Ring.GetSqe(), OperationTable.UserData(_token, OpListenReady), RingThread.IgnoredUserData);
        }
    }

    private void OnListenReady(int result, uint flags)
    {
        if ((flags & IoUringCqeFlags.More) == 0)
        {
            _listenPollArmed = false;
            if (_leavingPollMode)
            {
                LeavePollMode(); // Continue arms the multishot accept
                return;
            }
        }
        if (result == -Errno.ECANCELED)
        {
            return; // our own cancel: a pause, a stop
        }
        if (result < 0)
        {
            if (!OnAcceptError(-result))
            {
                StopOnRing();
            }
            return;
        }
        AcceptPending();
    }

    /// <summary>
    /// Accepts what waits in the backlog, until EAGAIN (the poll reports only new arrivals); after
    /// <see cref="MaxAcceptsPerWakeup"/> the rest is accepted in a later turn, so other work of the ring goes on.
    /// </summary>
    private void AcceptPending()
    {
        for (int i = 0; !_stopping && !_resumeArmed; i++)
        {
            if (i == MaxAcceptsPerWakeup)
            {
                _ring.Post(static s => ((Acceptor)s!).AcceptPendingPosted(), this);
                return;
            }
            int fd = Libc.accept4(_listenFd, null, null, Libc.SOCK_CLOEXEC);
            _ring.Counters.OtherSyscalls++;
            if (fd >= 0)
            {
                OnAccepted(fd);
                continue;
            }
            int errno = Libc.LastErrno;
            if (errno == Errno.EAGAIN)
            {
                return;
            }
            if (errno == Errno.EINTR)
            {
                continue;
            }
            if (!OnAcceptError(errno))
            {
                StopOnRing();
                return;
            }
        }
    }

    private void AcceptPendingPosted()
    {
        try
        {
            if (_pollMode)
            {
                AcceptPending();
            }
        }
        catch (Exception ex)
        {
            OnFault(ex);
        }
    }
}
