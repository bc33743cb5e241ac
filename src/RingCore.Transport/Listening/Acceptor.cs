using System.Runtime.InteropServices;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Listening;

/// <summary>
/// One multishot accept on one listening fd, owned by one ring thread. Errors that concern one connection are
/// skipped; running out of fds or memory pauses accepting for a moment (a ring timeout, not a spin) while
/// existing connections go on being served. Stopping cancels the accept and, when this acceptor owns the
/// listening fd, closes it after the final CQE.
/// </summary>
internal sealed unsafe class Acceptor : IRingOperationOwner
{
    private const byte OpAccept = 1;
    private const byte OpResume = 2;
    private const int PauseMilliseconds = 100;

    private readonly RingThread _ring;
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

    public Acceptor(RingThread ring, int listenFd, bool ownsListenFd, Action<int> onAccepted, string endPointName, RingCoreLog log)
    {
        _ring = ring;
        _listenFd = listenFd;
        _ownsListenFd = ownsListenFd;
        _onAccepted = onAccepted;
        _endPointName = endPointName;
        _log = log;
    }

    /// <summary>Completes when the accept has ended for good (and the fd is closed, if owned).</summary>
    public Task Stopped => _stopped.Task;

    public void Start() => _ring.Post(static s => ((Acceptor)s!).StartOnRing(), this);

    public void Stop() => _ring.Post(static s => ((Acceptor)s!).StopOnRing(), this);

    private void StartOnRing()
    {
        _pause = (KernelTimespec*)NativeMemory.AllocZeroed((nuint)sizeof(KernelTimespec));
        _pause->Nanoseconds = PauseMilliseconds * 1_000_000L;
        _token = _ring.Register(this);
        ArmAccept();
    }

    private void ArmAccept()
    {
        _acceptArmed = true;
        SqePrep.PrepMultishotAccept(ref _ring.Ring.GetSqe(), _listenFd, Libc.SOCK_CLOEXEC, OperationTable.UserData(_token, OpAccept));
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
                StopOnRing(); // the listening socket itself is unusable
                return;
            }
        }

        if (_stopping)
        {
            TryFinishStop();
        }
        else if (!_acceptArmed && !_resumeArmed)
        {
            ArmAccept();
        }
    }

    private void OnAccepted(int fd)
    {
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
            case Errno.EMFILE:
            case Errno.ENFILE:
            case Errno.ENOBUFS:
            case Errno.ENOMEM:
                _ring.Counters.AcceptPauses++;
                _log.AcceptPaused(_endPointName, PauseMilliseconds, Errno.Describe(errno));
                if (!_acceptArmed && !_resumeArmed)
                {
                    _resumeArmed = true;
                    SqePrep.PrepTimeout(ref _ring.Ring.GetSqe(), _pause, OperationTable.UserData(_token, OpResume));
                }
                return true;
            case Errno.ECANCELED:
                return true; // our own cancel while stopping
            case Errno.EBADF:
            case Errno.EINVAL:
            case Errno.EOPNOTSUPP:
            case 88: // ENOTSOCK
                if (!_stopping)
                {
                    _log.AcceptFailed(_endPointName, Errno.Describe(errno));
                }
                return false;
            default:
                return true; // ECONNABORTED, EPROTO, EPERM (firewall), ...: that connection only
        }
    }

    private void StopOnRing()
    {
        if (_stopping)
        {
            return;
        }
        _stopping = true;
        if (_acceptArmed)
        {
            SqePrep.PrepCancel(ref _ring.Ring.GetSqe(), OperationTable.UserData(_token, OpAccept), RingThread.IgnoredUserData);
        }
        if (_resumeArmed)
        {
            SqePrep.PrepCancel(ref _ring.Ring.GetSqe(), OperationTable.UserData(_token, OpResume), RingThread.IgnoredUserData);
        }
        TryFinishStop();
    }

    private void TryFinishStop()
    {
        if (_acceptArmed || _resumeArmed || _stopped.Task.IsCompleted)
        {
            return;
        }
        if (_ownsListenFd)
        {
            Libc.close(_listenFd);
        }
        _ring.Unregister(_token);
        NativeMemory.Free(_pause);
        _pause = null;
        _stopped.TrySetResult();
    }

    public void OnRingStopping() => StopOnRing();
}
