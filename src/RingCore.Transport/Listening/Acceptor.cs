using System.Runtime.InteropServices;
using RingCore.Transport.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Listening;

/// <summary>
/// One multishot accept on one listening fd, owned by one ring thread. Errors that concern one connection are
/// skipped; running out of fds or memory, or any error that keeps repeating, pauses accepting for a while (a
/// ring timeout that doubles while the error persists, one warning per streak and listener, never a spin) while existing
/// connections go on being served. Stopping cancels the accept and, when this acceptor owns the listening fd,
/// closes it after the final CQE; an owned listening socket is also shut down at once from the stopping thread,
/// so new connections stop reaching this ring even while the ring thread is busy.
/// </summary>
internal sealed unsafe class Acceptor : IRingOperationOwner
{
    private const byte OpAccept = 1;
    private const byte OpResume = 2;
    private const int FirstPauseMilliseconds = 100;
    private const int MaxPauseMilliseconds = 1600;

    /// <summary>Per-connection accept errors in a row after which accepting pauses (the error is persistent).</summary>
    private const int ErrorsBeforePause = 8;

    private readonly RingThread _ringThread;
    private readonly RingSocketHandle _listenHandle;
    private readonly int _listenFd;
    private readonly bool _ownsListenFd;
    private readonly Action<int> _onAccepted;
    private readonly string _endPointName;
    private readonly RingCoreLog _log;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private KernelTimespec* _pause;
    private ulong _token;
    private bool _acceptArmed;
    private bool _resumeArmed;
    private bool _stopping;
    private volatile bool _stopRequested;   // set by Stop on any thread, before it shuts the socket down
    private int _errorsInARow;
    private int _nextPauseMilliseconds = FirstPauseMilliseconds;
    private readonly AcceptPauseReport _pauseReport;

    public Acceptor(RingThread ring, int listenFd, bool ownsListenFd, Action<int> onAccepted, string endPointName, RingCoreLog log, AcceptPauseReport pauseReport)
    {
        _pauseReport = pauseReport;
        _ringThread = ring;
        _listenFd = listenFd;
        _listenHandle = new RingSocketHandle(listenFd, ownsListenFd);
        _ownsListenFd = ownsListenFd;
        _onAccepted = onAccepted;
        _endPointName = endPointName;
        _log = log;
    }

    /// <summary>Completes when the accept has ended for good (and the fd is closed, if owned).</summary>
    public Task Stopped => _stopped.Task;

    public void Start() => _ringThread.Post(static s => ((Acceptor)s!).StartOnRing(), this);

    /// <summary>
    /// Stops accepting. An owned listening socket is shut down right here, on the calling thread: it leaves its
    /// SO_REUSEPORT group and new connections go elsewhere at once; the ring finishes the rest.
    /// </summary>
    public void Stop()
    {
        _stopRequested = true;
        if (_ownsListenFd)
        {
            _listenHandle.TryEndNow(reset: false, isTcp: false);
        }
        _ringThread.Post(static s => ((Acceptor)s!).StopOnRing(), this);
    }

    private void StartOnRing()
    {
        _pause = (KernelTimespec*)NativeMemory.AllocZeroed((nuint)sizeof(KernelTimespec));
        _token = _ringThread.Register(this);
        if (_stopping)
        {
            TryFinishStop();
            return;
        }
        ArmAccept();
    }

    private void ArmAccept()
    {
        _acceptArmed = true;
        SqePrep.PrepMultishotAccept(ref _ringThread.Ring.GetSqe(), _listenFd, Libc.SOCK_CLOEXEC, OperationTable.UserData(_token, OpAccept));
    }

    public void OnCompletion(byte operation, int result, uint flags)
    {
        if (operation == OpResume)
        {
            _resumeArmed = false;
        }
        else
        {
            if ((flags & IoUringCqeFlags.More) == 0)
            {
                _acceptArmed = false;
            }
            if (result >= 0)
            {
                OnAccepted(result);
            }
            else if (!OnAcceptError(-result))
            {
                // The listening socket itself is unusable. This is also how the accept ends when Stop shut the socket
                // down and its posted stop ran first (the cancel then finds nothing): Continue finishes the stop.
                StopOnRing();
            }
        }
        Continue();
    }

    /// <summary>After every event: finish stopping, or re-arm the accept unless a pause is running.</summary>
    private void Continue()
    {
        if (_stopping)
        {
            TryFinishStop();
        }
        else if (!_acceptArmed && !_resumeArmed)
        {
            ArmAccept(); // submitted at the next enter: it cannot complete within the current reap
        }
    }

    private void OnAccepted(int fd)
    {
        _errorsInARow = 0;
        _nextPauseMilliseconds = FirstPauseMilliseconds;
        _pauseReport.EndStreak();
        if (_stopping)
        {
            Libc.close(fd);
            return;
        }
        _onAccepted(fd);
    }

    /// <summary>Returns false when accepting cannot go on.</summary>
    private bool OnAcceptError(int errno)
    {
        switch (errno)
        {
            case Errno.ECANCELED:
                return true; // our own cancel, while stopping
            case Errno.EBADF:
            case Errno.EINVAL:
            case Errno.EOPNOTSUPP:
            case 88: // ENOTSOCK
                if (!_stopping && !_stopRequested)
                {
                    _log.AcceptFailed(_endPointName, Errno.Describe(errno)); // not our own shutdown while stopping
                }
                return false;
            case Errno.EMFILE:
            case Errno.ENFILE:
            case Errno.ENOBUFS:
            case Errno.ENOMEM:
                Pause(errno); // out of a resource: retrying at once would fail again
                return true;
            default:
                // ECONNABORTED, EPROTO, EPERM (a firewall or security module), ...: that connection only, unless
                // it keeps happening.
                if (++_errorsInARow >= ErrorsBeforePause)
                {
                    Pause(errno);
                }
                return true;
        }
    }

    private void Pause(int errno)
    {
        _ringThread.Counters.AcceptPauses++;
        if (_pauseReport.TryStartStreak())
        {
            _log.AcceptPaused(_endPointName, _nextPauseMilliseconds, Errno.Describe(errno));
        }
        if (_acceptArmed || _resumeArmed || _stopping)
        {
            return; // the multishot accept goes on (the kernel will report again) or a pause already runs
        }
        _pause->Seconds = _nextPauseMilliseconds / 1000;
        _pause->Nanoseconds = _nextPauseMilliseconds % 1000 * 1_000_000L;
        _nextPauseMilliseconds = Math.Min(_nextPauseMilliseconds * 2, MaxPauseMilliseconds);
        _resumeArmed = true;
        SqePrep.PrepTimeout(ref _ringThread.Ring.GetSqe(), _pause, OperationTable.UserData(_token, OpResume));
    }

    private void StopOnRing()
    {
        if (_stopping)
        {
            return;
        }
        _stopping = true;
        if (_token == 0)
        {
            return; // not started yet: StartOnRing finishes the stop
        }
        if (_acceptArmed)
        {
            SqePrep.PrepCancel(ref _ringThread.Ring.GetSqe(), OperationTable.UserData(_token, OpAccept), RingThread.IgnoredUserData);
        }
        if (_resumeArmed)
        {
            SqePrep.PrepCancel(ref _ringThread.Ring.GetSqe(), OperationTable.UserData(_token, OpResume), RingThread.IgnoredUserData);
        }
        TryFinishStop();
    }

    private void TryFinishStop()
    {
        if (_acceptArmed || _resumeArmed || _stopped.Task.IsCompleted)
        {
            return;
        }
        _listenHandle.Dispose(); // closes an owned fd (after any thread still using it lets go)
        _ringThread.Unregister(_token);
        NativeMemory.Free(_pause);
        _pause = null;
        _stopped.TrySetResult();
    }

    public void OnRingStopping() => StopOnRing();

    public void OnFault(Exception exception)
    {
        try
        {
            _log.AcceptFailed(_endPointName, "an exception in the accept handler: " + exception.Message);
        }
        catch
        {
            // The logging provider may be what threw.
        }
        try
        {
            Continue();
        }
        catch
        {
            // Nothing more to do for this acceptor on this turn.
        }
    }

    public string DescribeForDiagnostics() =>
        $"listener {_endPointName}: accept {(_acceptArmed ? "armed" : "not armed")}, pause timeout {(_resumeArmed ? "armed" : "not armed")}, stopping {_stopping}";

    public void OnRingFailed(Exception exception)
    {
        // The ring is dead: leave the SO_REUSEPORT group so new connections go to the other rings. The timespec
        // stays allocated: a timeout SQE may still point at it.
        if (_ownsListenFd)
        {
            _listenHandle.TryEndNow(reset: false, isTcp: false);
        }
        _listenHandle.Dispose();
        _stopped.TrySetResult();
    }
}
