using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

// Send side, ring thread (a flush on an application thread may send directly first: RingConnection.DirectSend.cs,
// which hands everything it does not finish to the ring). The output pipe is read here; whatever it holds goes out in one send (one
// segment) or one sendmsg (several segments, one iovec each), straight from the pipe's memory, which stays
// pinned until the CQE. One send is in flight per socket; a short send continues with the rest; the pipe is
// advanced only after the kernel is done with the bytes. When the application completes the output, the
// socket is shut down after the last byte (FIN).
internal sealed unsafe partial class RingConnection
{
    private const int MaxSegmentsPerSend = 64;

    /// <summary>Transient send failures in a row (EAGAIN, EINTR, ENOMEM, ENOBUFS, zero bytes) after which the send side fails.</summary>
    private const int MaxTransientSendFailures = 8;

    private enum SendState : byte
    {
        Reading,  // waiting for (or handling) a read of the output pipe
        Sending,  // one send is in the kernel
        Done,     // the output reader is completed: nothing more is sent
    }

    private readonly Action _onOutputReadCompleted;
    private ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter _readAwaiter;
    private ReadOnlySequence<byte> _sendBuffer;     // what is left to send of the last read
    private SequencePosition _sendBufferEnd;        // end of the last read, for AdvanceTo
    private bool _outputCompletedAfterSend;         // the last read said the application completed the output
    private SendState _send;
    private int _transientSendFailures;
    private MemoryHandle _pinnedSingle;
    private MemoryHandle[]? _pinnedSegments;
    private int _pinnedSegmentCount;
    private MsgHdr* _msg;                           // msghdr followed by MaxSegmentsPerSend iovecs, made on first use

    private ulong SendUserData => OperationTable.UserData(_token, OpSend);

    private void ReadOutput()
    {
        while (_send == SendState.Reading)
        {
            ValueTask<ReadResult> read = _output.Reader.ReadAsync();
            if (!read.IsCompleted)
            {
                _readAwaiter = read.ConfigureAwait(false).GetAwaiter();
                _readAwaiter.UnsafeOnCompleted(_onOutputReadCompleted); // runs inline on the thread that flushes
                return;
            }
            if (!OnOutputRead(read.GetAwaiter().GetResult()))
            {
                return;
            }
        }
    }

    private void OnOutputReadCompleted()
    {
        if (!_ringThread.InRingCode)
        {
            OnOutputReadCompletedOffRing();
            return;
        }
        ReadResult result;
        try
        {
            result = _readAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            _readAwaiter = default;
            try
            {
                EndSend(new ConnectionAbortedException("Reading the output pipe failed.", ex));
            }
            catch (Exception inner)
            {
                ((IRingOperationOwner)this).OnFault(inner);
            }
            finally
            {
                AfterEvent();
            }
            return;
        }
        _readAwaiter = default;
        HandleOutputRead(result);
    }

    /// <summary>
    /// Ring thread: one read of the output, from the ring's own read or handed over by an application thread. An
    /// exception ends only this connection, and the close check follows, as after every ring event.
    /// </summary>
    private void HandleOutputRead(in ReadResult result)
    {
        try
        {
            if (OnOutputRead(result))
            {
                ReadOutput();
            }
        }
        catch (Exception ex)
        {
            ((IRingOperationOwner)this).OnFault(ex);
        }
        finally
        {
            AfterEvent();
        }
    }

    /// <summary>Handles one read of the output; returns true when the caller should read again at once.</summary>
    private bool OnOutputRead(ReadResult result)
    {
        if (result.IsCanceled || Volatile.Read(ref _abortReason) is not null || _close != CloseState.Open)
        {
            // Abort: pending output is dropped.
            _output.Reader.AdvanceTo(result.Buffer.Start);
            EndSend(null);
            return false;
        }
        ReadOnlySequence<byte> buffer = result.Buffer;
        if (!buffer.IsEmpty)
        {
            _sendBuffer = buffer;
            _sendBufferEnd = buffer.End;
            _outputCompletedAfterSend = result.IsCompleted;
            SubmitSend();
            return false;
        }
        _output.Reader.AdvanceTo(buffer.End);
        if (result.IsCompleted)
        {
            EndSend(null);
            return false;
        }
        return true;
    }

    private void SubmitSend()
    {
        ref IoUringSqe sqe = ref _ringThread.Ring.GetSqe();
        if (_sendBuffer.IsSingleSegment)
        {
            ReadOnlyMemory<byte> memory = _sendBuffer.First;
            _pinnedSingle = memory.Pin();
            SqePrep.PrepSend(ref sqe, _fd, _pinnedSingle.Pointer, (uint)memory.Length, Libc.MSG_NOSIGNAL, SendUserData);
        }
        else
        {
            if (_msg == null)
            {
                _msg = (MsgHdr*)NativeMemory.AllocZeroed((nuint)(sizeof(MsgHdr) + MaxSegmentsPerSend * sizeof(IoVec)));
                _pinnedSegments = new MemoryHandle[MaxSegmentsPerSend];
            }
            IoVec* iov = (IoVec*)(_msg + 1);
            int count = 0;
            foreach (ReadOnlyMemory<byte> segment in _sendBuffer)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }
                MemoryHandle handle = segment.Pin();
                _pinnedSegments![count] = handle;
                iov[count].Base = handle.Pointer;
                iov[count].Length = (nuint)segment.Length;
                if (++count == MaxSegmentsPerSend)
                {
                    break; // the rest goes in the next send
                }
            }
            _pinnedSegmentCount = count;
            *_msg = new MsgHdr { Iov = iov, IovLen = (nuint)count };
            SqePrep.PrepSendMsg(ref sqe, _fd, _msg, Libc.MSG_NOSIGNAL, SendUserData);
        }
        _send = SendState.Sending;
    }

    private void UnpinSendBuffers()
    {
        _pinnedSingle.Dispose();
        _pinnedSingle = default;
        for (int i = 0; i < _pinnedSegmentCount; i++)
        {
            _pinnedSegments![i].Dispose();
            _pinnedSegments[i] = default;
        }
        _pinnedSegmentCount = 0;
    }

    private void OnSendCompleted(int result)
    {
        // Bookkeeping first: the kernel is done with the bytes, whatever happens below.
        _send = SendState.Reading;
        UnpinSendBuffers();
        bool aborted = Volatile.Read(ref _abortReason) is not null || _close != CloseState.Open;

        if (result < 0 && !aborted && IsTransientSendError(-result) || result == 0 && !aborted)
        {
            // Nothing was sent, for a reason that may pass: send the same bytes again at the next enter.
            if (++_transientSendFailures <= MaxTransientSendFailures)
            {
                SubmitSend();
                return;
            }
            result = result == 0 ? -Errno.EIO : result;
        }

        if (result < 0)
        {
            int errno = -result;
            Exception? error = null;
            Exception? outputError = null;
            bool reset = false;
            if (!aborted && errno != Errno.ECANCELED)
            {
                if (errno is Errno.ECONNRESET or Errno.EPIPE)
                {
                    // Not an error of the output pipe: completing its reader with it would make the application's
                    // flush throw (Kestrel logs that as an error). The reset reaches the application through the
                    // input and ConnectionClosed, as with Kestrel's Sockets transport.
                    reset = true;
                    error = new ConnectionResetException($"The client reset the connection: {Errno.Describe(errno)}");
                }
                else
                {
                    error = outputError = new IOException($"send failed: {Errno.Describe(errno)}");
                }
            }
            _output.Reader.AdvanceTo(_sendBufferEnd);
            _sendBuffer = default;
            EndSend(error, outputError);
            // Logged after the close has begun, so a throwing logging provider cannot leave the send side half done.
            if (reset)
            {
                _settings.Log.ConnectionReset(ConnectionId, "send: " + Errno.Describe(errno));
            }
            else if (error is not null)
            {
                _settings.Log.ConnectionError(ConnectionId, "send: " + Errno.Describe(errno));
            }
            return;
        }

        _transientSendFailures = 0;
        _ringThread.Counters.BytesSent += result;
        _sendBuffer = _sendBuffer.Slice(result);
        if (!_sendBuffer.IsEmpty && !aborted)
        {
            SubmitSend(); // short send (or more segments than one sendmsg takes): continue with the rest
            return;
        }
        _output.Reader.AdvanceTo(_sendBufferEnd);
        _sendBuffer = default;
        if (_outputCompletedAfterSend || aborted)
        {
            EndSend(null);
            return;
        }
        ReadOutput();
    }

    private static bool IsTransientSendError(int errno) => errno is Errno.EAGAIN or Errno.EINTR or Errno.ENOMEM or Errno.ENOBUFS;

    /// <summary>The send side is finished: complete the output reader with <paramref name="error"/> and close the socket.</summary>
    private void EndSend(Exception? error) => EndSend(error, error);

    /// <summary>
    /// The send side is finished: complete the output reader (with <paramref name="outputError"/>, unexpected
    /// errors only) and close the socket (<paramref name="error"/> is why).
    /// </summary>
    private void EndSend(Exception? error, Exception? outputError)
    {
        if (_send == SendState.Done)
        {
            return;
        }
        _send = SendState.Done;
        _output.Reader.Complete(outputError);
        if (error is null && CanHalfClose())
        {
            HalfClose();
            return;
        }
        BeginClose(error);
    }

    private void FreeSendResources()
    {
        if (_msg != null)
        {
            NativeMemory.Free(_msg);
            _msg = null;
        }
    }
}
