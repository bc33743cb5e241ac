using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

// The application's thread sends its own response when it can. The output pipe's read completes on the thread
// that flushed (the pipe's reader scheduler is inline), so with the default ThreadPool scheduling a handler's
// flush lands here, off the ring. The common case, output that is one segment and fits the socket, goes out at
// once with one non-blocking send(2): no hop to the ring thread, no wake-up, no wait for its next turn. Anything
// else (several segments, a short or failed send, the output completed, an abort) is handed to the ring with the
// read's result, and the ring goes on exactly as if it had read it itself.
//
// Why this is safe: the pipe has one reader at a time, and whoever runs the read's continuation is it until its
// next read goes pending or it hands over to the ring, so the ring never sends while this thread does. The fd is
// used under a reference of the connection's RingSocketHandle, so a close on the ring cannot hand its number to
// another file meanwhile; a socket that is being reset or shut down just fails the send, which the ring then sees.
internal sealed unsafe partial class RingConnection
{
    private ReadResult _handedOver;   // an output read for the ring to handle (written before the Post that hands it over)

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
        try
        {
            while (TrySendDirectly(result))
            {
                ValueTask<ReadResult> read = _output.Reader.ReadAsync();
                if (!read.IsCompleted)
                {
                    _readAwaiter = read.ConfigureAwait(false).GetAwaiter();
                    _readAwaiter.UnsafeOnCompleted(_onOutputReadCompleted);
                    return;
                }
                result = read.GetAwaiter().GetResult();
            }
        }
        catch (Exception ex)
        {
            PostFault(ex);
        }
    }

    /// <summary>
    /// Sends <paramref name="result"/>'s bytes from this thread when that finishes the read; otherwise hands the
    /// read (what is left of it) to the ring. True when everything was sent and the caller should read again.
    /// </summary>
    private bool TrySendDirectly(in ReadResult result)
    {
        System.Buffers.ReadOnlySequence<byte> buffer = result.Buffer;
        if (result.IsCanceled || result.IsCompleted || buffer.IsEmpty || !buffer.IsSingleSegment
            || Volatile.Read(ref _abortReason) is not null)
        {
            HandOverToRing(result);
            return false;
        }
        int sent = SendNow(buffer.First.Span);
        if (sent == buffer.Length)
        {
            _output.Reader.AdvanceTo(buffer.End);
            return true;
        }
        // Short, would block, or failed: the ring sends the rest through io_uring and sees any error itself.
        HandOverToRing(new ReadResult(buffer.Slice(Math.Max(0, sent)), isCanceled: false, isCompleted: false));
        return false;
    }

    /// <summary>One non-blocking send(2) on the caller's thread; the bytes sent, or -1.</summary>
    private int SendNow(ReadOnlySpan<byte> bytes)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            nint sent;
            fixed (byte* p = bytes)
            {
                sent = Libc.send(_handle.Fd, p, (nuint)bytes.Length, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
            }
            Interlocked.Increment(ref _ring.Counters.DirectSends);
            if (sent > 0)
            {
                Interlocked.Add(ref _ring.Counters.DirectBytesSent, sent);
            }
            return (int)sent;
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

    private void HandOverToRing(in ReadResult result)
    {
        _handedOver = result;
        _ring.Post(static s => ((RingConnection)s!).OnOutputHandedOver(), this);
    }

    /// <summary>Ring thread: go on with an output read an application thread started.</summary>
    private void OnOutputHandedOver()
    {
        ReadResult result = _handedOver;
        _handedOver = default;
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

    /// <summary>An exception off the ring ends the connection on the ring, like one in a ring handler.</summary>
    private void PostFault(Exception exception) =>
        _ring.Post(static s =>
        {
            var (connection, error) = ((RingConnection, Exception))s!;
            ((IRingOperationOwner)connection).OnFault(error);
        }, (this, exception));
}
