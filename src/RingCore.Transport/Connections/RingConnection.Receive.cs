using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

// Receive side, ring thread only. One multishot recv selects buffers from the ring thread's provided-buffer
// ring; each completion's bytes are copied into the input pipe and the buffer goes straight back. When the
// application falls behind (the flush does not complete) the recv is cancelled, and re-armed when the flush
// completes, so a slow reader stops the socket instead of growing memory.
internal sealed partial class RingConnection
{
    private readonly Action _onFlushCompleted;
    private ConfiguredValueTaskAwaitable<FlushResult>.ConfiguredValueTaskAwaiter _flushAwaiter;
    private bool _receiveArmed;       // a multishot recv is in flight
    private bool _receiveCancelSent;  // an ASYNC_CANCEL for it has been submitted
    private bool _flushPending;       // the input pipe is above its pause threshold
    private bool _unflushedInput;     // bytes written while a flush was pending
    private bool _receiveDone;        // nothing more is received (input completed, or the application stopped reading)
    private bool _inputCompleted;     // the input pipe's writer is completed

    private ulong ReceiveUserData => OperationTable.UserData(_token, OpRecv);

    private void ArmReceive()
    {
        if (_receiveArmed || _receiveDone || _flushPending || _closing)
        {
            return;
        }
        _receiveArmed = true;
        _receiveCancelSent = false;
        SqePrep.PrepRecvBufferSelect(ref _ring.Ring.GetSqe(), _fd, _ring.Buffers.GroupId, multishot: true, ReceiveUserData);
    }

    private void CancelReceive()
    {
        if (_receiveArmed && !_receiveCancelSent)
        {
            _receiveCancelSent = true;
            SqePrep.PrepCancel(ref _ring.Ring.GetSqe(), ReceiveUserData, RingThread.IgnoredUserData);
        }
    }

    private void OnReceiveCompleted(int result, uint flags)
    {
        bool more = (flags & IoUringCqeFlags.More) != 0;
        if (!more)
        {
            _receiveArmed = false;
        }

        if ((flags & IoUringCqeFlags.Buffer) != 0)
        {
            ushort bufferId = ProvidedBufferRing.BufferIdOf(flags);
            _ring.Buffers.OnTaken();
            if (result > 0 && !_receiveDone)
            {
                _input.Writer.Write(_ring.Buffers.GetBuffer(bufferId, result));
                _ring.Counters.BytesReceived += result;
            }
            _ring.Buffers.Recycle(bufferId);
        }

        if (result > 0)
        {
            if (!_receiveDone)
            {
                FlushInput();
            }
        }
        else if (result == 0)
        {
            // Orderly shutdown by the peer, or our own shutdown(2) while closing.
            if (!_closing)
            {
                _settings.Log.ConnectionReadFin(ConnectionId);
            }
            CompleteInput(null);
        }
        else
        {
            OnReceiveError(-result);
        }

        if (!_receiveArmed)
        {
            if (_closing)
            {
                TryFinishClose();
            }
            else
            {
                ArmReceive(); // multishot ended early (ENOBUFS, CQ pressure): carry on unless paused or done
            }
        }
    }

    private void OnReceiveError(int errno)
    {
        switch (errno)
        {
            case Errno.ENOBUFS:
                // Every provided buffer was in use; they are back by the end of this batch. Not an error.
                _ring.Counters.BufferRingExhausted++;
                break;
            case Errno.ECANCELED:
                // We cancelled it: backpressure (re-armed after the flush) or close.
                break;
            case Errno.ECONNRESET:
            case Errno.EPIPE:
            case Errno.ENOTCONN when !_closing:
                _settings.Log.ConnectionReset(ConnectionId, Errno.Describe(errno));
                CompleteInput(new ConnectionResetException($"The client reset the connection: {Errno.Describe(errno)}"));
                break;
            default:
                if (!_closing)
                {
                    _settings.Log.ConnectionError(ConnectionId, "recv: " + Errno.Describe(errno));
                }
                CompleteInput(_closing ? null : new ConnectionAbortedException($"recv failed: {Errno.Describe(errno)}"));
                break;
        }
    }

    private void FlushInput()
    {
        if (_flushPending)
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
        // Backpressure: stop the multishot recv until the application has read enough.
        _flushPending = true;
        CancelReceive();
        _flushAwaiter = flush.ConfigureAwait(false).GetAwaiter();
        _flushAwaiter.UnsafeOnCompleted(_onFlushCompleted); // runs on this ring thread: it is the writer's scheduler
    }

    private void OnFlushCompleted()
    {
        _flushPending = false;
        FlushResult result;
        try
        {
            result = _flushAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            CompleteInput(new ConnectionAbortedException("Flushing the input pipe failed.", ex));
            return;
        }
        _flushAwaiter = default;
        OnFlushed(result);
        if (_closing)
        {
            TryFinishClose();
        }
    }

    private void OnFlushed(FlushResult result)
    {
        if (_inputCompleted)
        {
            return; // completed while this flush was pending (abort, reset, close)
        }
        if (result.IsCompleted)
        {
            // The application stopped reading; nothing more needs receiving.
            CompleteInput(null);
            return;
        }
        if (_unflushedInput && !_receiveDone)
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
        if (_inputCompleted)
        {
            return;
        }
        _receiveDone = true;
        _inputCompleted = true;
        CancelReceive();
        if (_flushPending)
        {
            _input.Writer.CancelPendingFlush();
        }
        _input.Writer.Complete(_abortReason ?? _shutdownReason ?? error);
        FireConnectionClosed();
    }
}
