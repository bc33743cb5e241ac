using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

// The application's thread pool sends its own responses when it can (with UnsafeInline scheduling, a handler on the
// ring thread hands its response to the ring instead: SendDeferredReadOnRing). The output pipe's read completes on the
// thread that flushed (the pipe's reader scheduler is inline), so with the default ThreadPool scheduling a
// handler's flush lands here, off the ring. The send is deferred to a work item queued locally on that thread
// (as Kestrel's Sockets transport defers its sends to an I/O queue): it runs once the handler yields, so the
// flushes of one response (a chunked body and its terminator) and the responses to pipelined requests go out
// together, in one non-blocking send(2) or sendmsg(2), with no hop to the ring thread and no wake-up. Anything it
// cannot finish (more segments than one sendmsg takes, a short or failed send, the output completed, an abort) is
// handed to the ring with the read's result, and the ring goes on exactly as if it had read it itself.
//
// Only when the ring sleeps, though. A ring that is awake, or in a wait bounded by CompletionBatchWait, submits
// a handed-over send with its next io_uring_enter together with everything else, and a post to it writes no
// eventfd: the response then costs no syscall of its own. A sleeping ring would need a wake-up, which costs the
// same syscall as the send itself, so there the handler's thread sends. The choice is made in the deferred work
// item, after the handler yielded, so a response flushed in parts still leaves in one send either way.
//
// Why this is safe: the pipe has one reader at a time, and whoever runs the read's continuation is it until its
// next read goes pending or it hands over to the ring, so the ring never sends while this thread does. The fd is
// used under a reference of the connection's RingSocketHandle, so a close on the ring cannot hand its number to
// another file meanwhile; a socket that is being reset or shut down just fails the send, which the ring then sees.
internal sealed unsafe partial class RingConnection : IThreadPoolWorkItem
{
    private const int MaxDirectSegments = 16;

    private ReadResult _handedOver;   // an output read for the ring to handle (written before the Post that hands it over)
    private ReadResult _deferredRead; // an output read whose send waits for the work item (reader's thread only)
    private System.Buffers.MemoryHandle[]? _directPins; // reused; only the output's current reader touches it

    private void OnOutputReadCompletedOffRing()
    {
        ReadResult result;
        try
        {
            result = _readAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            _readAwaiter = default;
            PostFault(ex);
            return;
        }
        _readAwaiter = default;
        if (result.IsCanceled || result.IsCompleted || Volatile.Read(ref _abortReason) is not null)
        {
            HandOverToRing(result); // nothing to send early: closing is the ring's job
            return;
        }
        _deferredRead = result;
        if (_ringThread.InApplicationWorkOnThisThread)
        {
            // UnsafeInline: the handler runs on the ring thread, which runs posted work right after the handler
            // yields and submits the send with its next enter: no syscall of the handler's own.
            _ringThread.Post(static s => ((RingConnection)s!).SendDeferredReadOnRing(), this);
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
    }

    /// <summary>Ring thread: the deferred read of a handler that ran on the ring thread; sends what it flushed since.</summary>
    private void SendDeferredReadOnRing()
    {
        ReadResult result = _deferredRead;
        _deferredRead = default;
        try
        {
            _output.Reader.AdvanceTo(result.Buffer.Start); // nothing consumed: read again to see later flushes too
            if (!_output.Reader.TryRead(out result))
            {
                ReadOutput();
                AfterEvent();
                return;
            }
        }
        catch (Exception ex)
        {
            ((IRingOperationOwner)this).OnFault(ex);
            AfterEvent();
            return;
        }
        HandleOutputRead(result);
    }

    /// <summary>The deferred send: everything flushed since the read completed goes out together.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        try
        {
            ReadResult result = _deferredRead;
            _deferredRead = default;
            _output.Reader.AdvanceTo(result.Buffer.Start); // nothing consumed: read again to see later flushes too
            if (!_output.Reader.TryRead(out result))
            {
                ReadOutputOffRing();
                return;
            }
            if (!_ringThread.IsSleeping)
            {
                HandOverToRing(result); // its next enter submits the send with everything else (see the top)
                return;
            }
            while (TrySendDirectly(result))
            {
                if (!_output.Reader.TryRead(out result))
                {
                    ReadOutputOffRing();
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            PostFault(ex);
        }
    }

    /// <summary>Waits for the next flush; its read completes on the flushing thread (inline scheduler).</summary>
    private void ReadOutputOffRing()
    {
        ValueTask<ReadResult> read = _output.Reader.ReadAsync();
        if (read.IsCompleted)
        {
            // Flushed meanwhile (or completed, or cancelled): handle it like a completion on this thread.
            _readAwaiter = read.ConfigureAwait(false).GetAwaiter();
            OnOutputReadCompletedOffRing();
            return;
        }
        _readAwaiter = read.ConfigureAwait(false).GetAwaiter();
        _readAwaiter.UnsafeOnCompleted(_onOutputReadCompleted);
    }

    /// <summary>
    /// Sends <paramref name="result"/>'s bytes from this thread when that finishes the read; otherwise hands the
    /// read (what is left of it) to the ring. True when everything was sent and the caller should read again.
    /// </summary>
    private bool TrySendDirectly(in ReadResult result)
    {
        System.Buffers.ReadOnlySequence<byte> buffer = result.Buffer;
        if (result.IsCanceled || result.IsCompleted || buffer.IsEmpty || Volatile.Read(ref _abortReason) is not null)
        {
            HandOverToRing(result);
            return false;
        }
        long sent = SendNow(buffer);
        if (sent == buffer.Length)
        {
            _output.Reader.AdvanceTo(buffer.End);
            return true;
        }
        // Short, would block, too many segments or failed: the ring sends the rest through io_uring and sees any
        // error itself.
        HandOverToRing(new ReadResult(buffer.Slice(Math.Max(0, sent)), isCanceled: false, isCompleted: false));
        return false;
    }

    /// <summary>
    /// One non-blocking send(2), or sendmsg(2) for up to <see cref="MaxDirectSegments"/> segments, on the caller's
    /// thread; the bytes sent, or -1 (also for more segments than that: the ring sends those).
    /// </summary>
    private long SendNow(in System.Buffers.ReadOnlySequence<byte> buffer)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            nint sent;
            if (buffer.IsSingleSegment)
            {
                fixed (byte* p = buffer.FirstSpan)
                {
                    sent = Libc.send(_handle.Fd, p, (nuint)buffer.Length, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
                }
            }
            else
            {
                sent = SendSegments(buffer);
            }
            Interlocked.Increment(ref _ringThread.Counters.DirectSends);
            if (sent > 0)
            {
                Interlocked.Add(ref _ringThread.Counters.DirectBytesSent, sent);
            }
            return sent;
        }
        catch (ObjectDisposedException)
        {
            return -1; // the ring has closed the socket
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    private nint SendSegments(in System.Buffers.ReadOnlySequence<byte> buffer)
    {
        IoVec* iov = stackalloc IoVec[MaxDirectSegments];
        System.Buffers.MemoryHandle[] pins = _directPins ??= new System.Buffers.MemoryHandle[MaxDirectSegments];
        int count = 0;
        try
        {
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }
                if (count == MaxDirectSegments)
                {
                    return -1;
                }
                pins[count] = segment.Pin();
                iov[count].Base = pins[count].Pointer;
                iov[count].Length = (nuint)segment.Length;
                count++;
            }
            var msg = new MsgHdr { Iov = iov, IovLen = (nuint)count };
            return Libc.sendmsg(_handle.Fd, &msg, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
        }
        finally
        {
            for (int i = 0; i < count; i++)
            {
                pins[i].Dispose();
                pins[i] = default;
            }
        }
    }

    private void HandOverToRing(in ReadResult result)
    {
        _handedOver = result;
        _ringThread.Post(static s => ((RingConnection)s!).OnOutputHandedOver(), this);
    }

    /// <summary>Ring thread: go on with an output read an application thread started.</summary>
    private void OnOutputHandedOver()
    {
        ReadResult result = _handedOver;
        _handedOver = default;
        HandleOutputRead(result);
    }

    /// <summary>An exception off the ring ends the connection on the ring, like one in a ring handler.</summary>
    private void PostFault(Exception exception) =>
        _ringThread.Post(static s =>
        {
            var (connection, error) = ((RingConnection, Exception))s!;
            ((IRingOperationOwner)connection).OnFault(error);
        }, (this, exception));
}
