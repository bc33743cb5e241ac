using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Connections;

// Closing, ring thread only. Two ways in: the send side finishes (the application completed its output:
// shutdown(2) sends FIN after the last byte; or a send failed: RST, as Kestrel's Sockets transport, unless
// FinOnError), or Abort (the socket was already reset or shut down on the aborting thread; here pending output is
// dropped and operations are cancelled). Either way the fd is released
// only after the final CQE of every operation on it, so no completion can ever touch an fd number the kernel
// has handed to a new connection. AfterEvent is the one place that decides the close is complete.
internal sealed unsafe partial class RingConnection
{
    private enum CloseState : byte
    {
        Open,
        Closing,  // the socket is shut down or reset; waiting for the operations in flight to complete
        Closed,   // the fd is released and the connection unregistered from its ring
    }

    private CloseState _close;
    private Exception? _shutdownReason;   // why the send side closed the socket (not set when aborted)
    private bool _outputShutDown;         // half-closed: FIN sent, still receiving (outbound connections only)
    private volatile bool _disposing;     // DisposeAsync has begun (any thread): no half-close from now on

    /// <summary>
    /// Outbound connections whose application completed its output while the peer may still send: send FIN only
    /// and keep receiving (a request-then-read-to-end protocol needs it). Not after an abort, an error or disposal.
    /// </summary>
    private bool CanHalfClose() =>
        _settings.HalfCloseOnOutputEnd && _close == CloseState.Open && _receive != ReceiveState.Done &&
        Volatile.Read(ref _abortReason) is null && !_disposing;

    private void HalfClose()
    {
        _outputShutDown = true;
        Libc.shutdown(_fd, Libc.SHUT_WR); // FIN after the last byte; the receive side stays open
        _ringThread.Counters.OtherSyscalls++;
        _settings.Log.ConnectionWriteFin(ConnectionId, "The application completed its output; receiving until the peer ends.");
    }

    /// <summary>Outbound connections: the input ended after a half-close, so the connection is done.</summary>
    private void CloseIfHalfClosed()
    {
        if (_outputShutDown && _close == CloseState.Open)
        {
            BeginClose(null);
        }
    }

    /// <summary>
    /// DisposeAsync of an outbound connection: the application has completed both pipes. A half-closed connection
    /// waits for nothing more; any other is closed by its send side as usual.
    /// </summary>
    private void OnDisposePosted()
    {
        try
        {
            if (_send == SendState.Done && _close == CloseState.Open)
            {
                BeginClose(null);
            }
        }
        finally
        {
            AfterEvent();
        }
    }

    private void OnAbortPosted()
    {
        try
        {
            if (_receive == ReceiveState.Paused)
            {
                _input.Writer.CancelPendingFlush(); // wakes a receive paused by backpressure
            }
            BeginClose(null);
        }
        finally
        {
            AfterEvent();
        }
    }

    private void BeginClose(Exception? error)
    {
        if (_close != CloseState.Open)
        {
            return;
        }
        _close = CloseState.Closing;

        Exception? closedBecause = null; // set when the send side closes the socket here (not aborted)
        bool reset = false;
        if (Volatile.Read(ref _abortReason) is null)
        {
            // The send side ended. Without an error the application completed its output and every byte has been
            // handed to the kernel: FIN. After a send error Sockets resets (its shutdown reason is not null), and so
            // do we, unless FinOnError asks for FIN; the input then completes with that error, as with Sockets.
            reset = error is not null && !_settings.FinOnError;
            _shutdownReason = closedBecause = error ?? new ConnectionAbortedException("The RingCore transport's send loop completed gracefully.");
            if (_outputShutDown)
            {
                closedBecause = null; // the FIN went out (and was logged) at the half-close
                Libc.shutdown(_fd, Libc.SHUT_RDWR); // ends the pending recv
                _ringThread.Counters.OtherSyscalls++;
            }
            else if (reset)
            {
                _handle.TryEndNow(reset: true, IsTcp);
                _ringThread.Counters.OtherSyscalls += 2; // setsockopt(SO_LINGER), connect(AF_UNSPEC)
            }
            else
            {
                Libc.shutdown(_fd, Libc.SHUT_RDWR); // FIN; also ends the pending recv with 0
                _ringThread.Counters.OtherSyscalls++;
            }
        }
        // Aborted: Abort already reset or shut down the socket on its own thread.

        CancelReceive();
        CancelPeerEndWatch();
        if (_send == SendState.Sending)
        {
            SqePrep.PrepCancel(ref _ringThread.Ring.GetSqe(), SendUserData, Threading.RingThread.IgnoredUserData);
        }

        // Last: the state above is complete even if the logging provider throws (that ends only this connection).
        if (closedBecause is not null)
        {
            if (reset)
            {
                _settings.Log.ConnectionWriteRst(ConnectionId, closedBecause.Message);
            }
            else
            {
                _settings.Log.ConnectionWriteFin(ConnectionId, closedBecause.Message);
            }
        }
    }

    /// <summary>
    /// Runs at the end of every event the ring delivers to this connection: once closing and nothing is in flight,
    /// the fd is released and everything the connection holds is given back.
    /// </summary>
    private void AfterEvent()
    {
        if (_close != CloseState.Closing || _recvInFlight || _peerEndWatchInFlight || _send == SendState.Sending)
        {
            return;
        }
        _close = CloseState.Closed;
        _ringThread.Unregister(_token);
        _handle.Dispose(); // closes the fd, or lets the last cross-thread user close it
        FreeSendResources();
        _ringThread.Counters.OtherSyscalls++; // close
        _ringThread.Counters.ConnectionsClosed++;
        try
        {
            CompleteInput(null);
        }
        finally
        {
            _settings.OnConnectionClosed();
            _closed.TrySetResult();
        }
    }

    /// <summary>
    /// The ring is dead: no completion will arrive. Reset the socket, complete both pipes and signal everyone
    /// waiting, so Kestrel sees the connection end. Send memory is not unpinned: the kernel may still read it.
    /// </summary>
    private void FailWithRing(Exception exception)
    {
        if (_close == CloseState.Closed)
        {
            return;
        }
        _close = CloseState.Closed;
        var reason = new ConnectionAbortedException("The connection's io_uring failed.", exception);
        Interlocked.CompareExchange(ref _abortKind, AbortWithRst, 0);
        Interlocked.CompareExchange(ref _abortReason, reason, null);
        _handle.TryEndNow(reset: true, IsTcp);
        _handle.Dispose();
        _receive = ReceiveState.Done;
        _send = SendState.Done;
        _input.Writer.Complete(Volatile.Read(ref _abortReason));
        _output.Reader.Complete(reason);
        FireConnectionClosed();
        _ringThread.Counters.ConnectionsClosed++;
        _settings.OnConnectionClosed();
        _closed.TrySetResult();
    }
}
