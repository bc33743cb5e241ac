using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Connections;

// Closing, ring thread only. Two ways in: the send side finishes (the application completed its output:
// shutdown(2) sends FIN after the last byte), or Abort (pending output is dropped and operations are cancelled;
// with a reason the socket is closed with SO_LINGER 0, which sends RST; Kestrel's Abort(null) gets a FIN, as with
// its Sockets transport). Either way the fd is closed only after the final CQE of every operation on it, so no
// completion can ever touch an fd number the kernel has handed to a new connection.
internal sealed unsafe partial class RingConnection
{
    private bool _closing;
    private bool _fdClosed;
    private ConnectionAbortedException? _shutdownReason;

    private void AbortOnRing()
    {
        if (_fdClosed)
        {
            return;
        }
        if (Volatile.Read(ref _abortKind) == AbortWithFin)
        {
            _settings.Log.ConnectionWriteFin(ConnectionId, _abortReason!.Message);
        }
        else
        {
            _settings.Log.ConnectionAborted(ConnectionId, _abortReason!.Message);
        }
        if (_flushPending)
        {
            _input.Writer.CancelPendingFlush(); // wakes a receive paused by backpressure
        }
        BeginClose(null);
    }

    private void BeginClose(Exception? error)
    {
        if (_closing)
        {
            return;
        }
        _closing = true;

        if (Volatile.Read(ref _abortReason) is null)
        {
            // Graceful: the application completed its output and every byte has been handed to the kernel.
            _shutdownReason = error as ConnectionAbortedException
                ?? new ConnectionAbortedException("The RingCore transport's send loop completed gracefully.", error!);
            _settings.Log.ConnectionWriteFin(ConnectionId, _shutdownReason.Message);
            Libc.shutdown(_fd, Libc.SHUT_RDWR); // FIN; also ends the multishot recv with 0
        }
        else if (Volatile.Read(ref _abortKind) == AbortWithFin)
        {
            Libc.shutdown(_fd, Libc.SHUT_RDWR); // Abort(null): graceful close, FIN (pending output was dropped)
        }
        else
        {
            var linger = new Linger { OnOff = 1, Seconds = 0 };
            Libc.setsockopt(_fd, Libc.SOL_SOCKET, Libc.SO_LINGER, &linger, sizeof(Linger)); // close(2) will send RST
        }

        CancelReceive();
        if (_sendInFlight)
        {
            SqePrep.PrepCancel(ref _ring.Ring.GetSqe(), SendUserData, Threading.RingThread.IgnoredUserData);
        }
        TryFinishClose();
    }

    /// <summary>Closes the fd once nothing is in flight on it, then releases everything the connection holds.</summary>
    private void TryFinishClose()
    {
        if (!_closing || _fdClosed || _receiveArmed || _sendInFlight)
        {
            return;
        }
        _fdClosed = true;
        Libc.close(_fd);
        CompleteInput(null);
        FreeSendResources();
        _ring.Unregister(_token);
        _ring.Counters.OtherSyscalls += 2; // shutdown or setsockopt(SO_LINGER), then close
        _ring.Counters.ConnectionsClosed++;
        _settings.OnConnectionClosed();
        _closed.TrySetResult();
    }
}
