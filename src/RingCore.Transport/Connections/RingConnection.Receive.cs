using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

// Receive side, ring thread only. A multishot recv selects buffers from the ring thread's provided-buffer ring
// and stays armed across requests: each CQE's bytes are copied into the input pipe and the buffer goes straight
// back. When the application falls behind (the flush does not complete) the recv is cancelled, and re-armed when
// the flush completes, so a slow reader stops the socket instead of growing memory. When the buffer ring is empty
// (ENOBUFS) the connection waits in its ring's starvation queue and is re-armed when buffers are back.
//
// The end of the stream is never left to the multishot recv alone. A multishot recv whose poll is armed just as
// data and a reset arrive together posts the data (with F_MORE) and then nothing, ever (Linux 6.18; about 2.5 in
// 10^4 connections that send a partial request and reset, reproduced with a bare ring in C: the kernel's retry
// after posting data looks only at the receive queue, which a reset leaves empty). So every connection also has
// one one-shot poll for POLLRDHUP|POLLERR|POLLHUP, armed once, which fires on the peer's FIN or reset. From then
// on the multishot recv is cancelled and single-shot recvs read what is left: a fresh recv reads the socket first,
// so it returns the remaining bytes and then 0 or the reset, which are authoritative.
internal sealed partial class RingConnection
{
    /// <summary>Transient receive failures in a row (EAGAIN, EINTR, ENOMEM) after which the connection is failed.</summary>
    private const int MaxTransientReceiveFailures = 8;

    private enum ReceiveState : byte
    {
        Receiving,  // a recv is wanted: in flight, or re-armed at the next opportunity
        Starved,    // the buffer ring was empty: waiting in the ring's starvation queue
        Paused,     // the input pipe is above its pause threshold: no recv until its flush completes
        Done,       // the input pipe is completed: nothing more is received
    }

    private readonly Action _onFlushCompleted;
    private ConfiguredValueTaskAwaitable<FlushResult>.ConfiguredValueTaskAwaiter _flushAwaiter;
    private ReceiveState _receive;
    private bool _recvInFlight;       // the kernel holds our recv (until a CQE without F_MORE)
    private bool _recvCancelSent;     // an ASYNC_CANCEL for it has been submitted
    private bool _peerEndWatchInFlight;  // the kernel holds our POLLRDHUP|POLLERR|POLLHUP poll
    private bool _peerEnded;          // that poll fired: the rest is read with single-shot recvs
    private bool _unflushedInput;     // bytes written while the flush was pending
    private int _transientReceiveFailures;

    private ulong ReceiveUserData => OperationTable.UserData(_token, OpRecv);

    private ulong PeerEndWatchUserData => OperationTable.UserData(_token, OpPeerEndWatch);

    /// <summary>Arms the one poll that tells us the peer sent FIN or reset (once, when the connection starts).</summary>
    private void ArmPeerEndWatch()
    {
        _peerEndWatchInFlight = true;
        SqePrep.PrepPollAdd(ref _ringThread.Ring.GetSqe(), _fd, Libc.POLLRDHUP | Libc.POLLERR | Libc.POLLHUP, PeerEndWatchUserData);
    }

    private void CancelPeerEndWatch()
    {
        if (_peerEndWatchInFlight)
        {
            SqePrep.PrepCancel(ref _ringThread.Ring.GetSqe(), PeerEndWatchUserData, RingThread.IgnoredUserData);
        }
    }

    /// <summary>
    /// The peer sent FIN or reset (or the socket was shut down): switch to single-shot recvs, which report the
    /// end reliably. A multishot recv in flight is cancelled; its last CQE re-arms the first single-shot recv.
    /// </summary>
    private void OnPeerEndWatchCompleted(int result)
    {
        _peerEndWatchInFlight = false;
        if (result == -Errno.ECANCELED)
        {
            return; // our own cancel, while closing
        }
        // Any other result, an error included, switches to single-shot: it is correct in every case, only slower.
        _peerEnded = true;
        if (_recvInFlight)
        {
            CancelReceive();
        }
        else
        {
            ArmReceive();
        }
    }

    /// <summary>
    /// Arms the recv unless one is in flight or receiving is paused, starved or done: multishot while the peer
    /// has not ended, single-shot after (see the top of this file).
    /// </summary>
    private void ArmReceive()
    {
        if (_recvInFlight || _receive != ReceiveState.Receiving || _close != CloseState.Open)
        {
            return;
        }
        _recvInFlight = true;
        _recvCancelSent = false;
        SqePrep.PrepRecvBufferSelect(ref _ringThread.Ring.GetSqe(), _fd, _ringThread.Buffers.GroupId, multishot: !_peerEnded, ReceiveUserData,
            pollFirst: !_peerEnded && _settings.MultishotReceivePollFirst);
        _ringThread.OnReceivePrepared();
    }

    private void CancelReceive()
    {
        if (_recvInFlight && !_recvCancelSent)
        {
            _recvCancelSent = true;
            SqePrep.PrepCancel(ref _ringThread.Ring.GetSqe(), ReceiveUserData, RingThread.IgnoredUserData);
        }
    }

    private void ResumeAfterStarvation()
    {
        if (_receive == ReceiveState.Starved)
        {
            _receive = ReceiveState.Receiving;
            ArmReceive();
        }
    }

    private void OnReceiveCompleted(int result, uint flags)
    {
        // Bookkeeping first: nothing below may leave the in-flight state or a buffer wrong if it throws.
        if ((flags & IoUringCqeFlags.More) == 0)
        {
            _recvInFlight = false;
        }
        if ((flags & IoUringCqeFlags.Buffer) != 0)
        {
            try
            {
                if (result > 0 && _receive != ReceiveState.Done)
                {
                    _input.Writer.Write(_ringThread.Buffers.Received(flags, result));
                    _ringThread.Counters.BytesReceived += result;
                }
            }
            finally
            {
                _ringThread.Buffers.Release(flags, result);
            }
        }

        if (result > 0)
        {
            _transientReceiveFailures = 0;
            if (_receive != ReceiveState.Done)
            {
                FlushInput();
            }
        }
        else if (result == 0)
        {
            // Orderly shutdown by the peer, or our own shutdown(2) while closing.
            bool peerFin = _close == CloseState.Open;
            CompleteInput(null);
            if (peerFin)
            {
                _settings.Log.ConnectionReadFin(ConnectionId); // after the state change: a throwing provider ends only this connection
            }
        }
        else
        {
            OnReceiveError(-result);
        }

        // A recv that ended is re-armed, unless paused, starved or done (a multishot recv still in flight is left
        // alone). The new SQE is submitted at the next enter, so it can never complete within the current reap.
        ArmReceive();
    }

    private void OnReceiveError(int errno)
    {
        switch (errno)
        {
            case Errno.ENOBUFS:
                // The buffer ring was empty: a ring-level condition, not this connection's error.
                if (_receive == ReceiveState.Receiving && !_recvInFlight && _close == CloseState.Open)
                {
                    _receive = ReceiveState.Starved;
                    _ringThread.AddStarved(this);
                }
                break;
            case Errno.ECANCELED:
                // We cancelled it: backpressure (re-armed after the flush), the peer's end (re-armed single-shot)
                // or close.
                break;
            case Errno.EAGAIN:
            case Errno.EINTR:
            case Errno.ENOMEM:
                // Transient: re-armed for the next enter, but not forever.
                if (++_transientReceiveFailures > MaxTransientReceiveFailures)
                {
                    FailReceive(errno);
                }
                break;
            case Errno.ECONNRESET:
            case Errno.EPIPE:
            case Errno.ENOTCONN when _close == CloseState.Open:
                CompleteInput(new ConnectionResetException($"The client reset the connection: {Errno.Describe(errno)}"));
                _settings.Log.ConnectionReset(ConnectionId, Errno.Describe(errno));
                break;
            default:
                FailReceive(errno);
                break;
        }
    }

    private void FailReceive(int errno)
    {
        bool open = _close == CloseState.Open;
        CompleteInput(open ? new ConnectionAbortedException($"recv failed: {Errno.Describe(errno)}") : null);
        if (open)
        {
            _settings.Log.ConnectionError(ConnectionId, "recv: " + Errno.Describe(errno));
        }
    }

    private void FlushInput()
    {
        if (_receive == ReceiveState.Paused)
        {
            _unflushedInput = true;
            return;
        }
        ValueTask<FlushResult> flush = _input.Writer.FlushAsync();
        if (flush.IsCompleted)
        {
            OnFlushed(flush.GetAwaiter().GetResult());
            return;
        }
        // Backpressure: stop receiving until the application has read enough.
        _receive = ReceiveState.Paused;
        CancelReceive();
        _flushAwaiter = flush.ConfigureAwait(false).GetAwaiter();
        _flushAwaiter.UnsafeOnCompleted(_onFlushCompleted); // runs on this ring thread: it is the writer's scheduler
        _settings.Log.ConnectionPause(ConnectionId);         // last: the pause is fully set up even if this throws
    }

    private void OnFlushCompleted()
    {
        try
        {
            FlushResult result;
            try
            {
                result = _flushAwaiter.GetResult();
            }
            catch (Exception ex)
            {
                _flushAwaiter = default;
                CompleteInput(new ConnectionAbortedException("Flushing the input pipe failed.", ex));
                return;
            }
            _flushAwaiter = default;
            if (_receive == ReceiveState.Paused)
            {
                _receive = ReceiveState.Receiving;
                if (_close == CloseState.Open)
                {
                    // Before OnFlushed, which may pause again: the log then reads pause, resume, pause.
                    _settings.Log.ConnectionResume(ConnectionId);
                }
            }
            OnFlushed(result);
        }
        catch (Exception ex)
        {
            ((IRingOperationOwner)this).OnFault(ex);
            return;
        }
        finally
        {
            AfterEvent();
        }
    }

    private void OnFlushed(FlushResult result)
    {
        if (_receive == ReceiveState.Done)
        {
            return; // completed while this flush was pending (abort, reset, close)
        }
        if (result.IsCompleted)
        {
            // The application stopped reading; nothing more needs receiving.
            CompleteInput(null);
            return;
        }
        if (_unflushedInput)
        {
            _unflushedInput = false;
            FlushInput();
            return;
        }
        ArmReceive();
    }

    /// <summary>Completes the input pipe once; an abort reason, once set, wins over the error seen here.</summary>
    private void CompleteInput(Exception? error)
    {
        if (_receive == ReceiveState.Done)
        {
            return;
        }
        bool flushPending = _receive == ReceiveState.Paused;
        _receive = ReceiveState.Done;
        CancelReceive();
        if (flushPending)
        {
            _input.Writer.CancelPendingFlush();
        }
        _input.Writer.Complete(Volatile.Read(ref _abortReason) ?? _shutdownReason ?? error);
        FireConnectionClosed();
        CloseIfHalfClosed();
    }
}
