using RingCore.Transport.Interop;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

// A takeover of a SINGLE_ISSUER ring moves the loop to the new thread's own io_uring (RingThread.Takeover.cs).
// What this connection had in flight on the old ring never completes and never runs: the old ring's thread
// cancels each request named here before its next enter, so its receive takes no bytes (they stay in the socket) and its send
// sends none (a send waits in the kernel only after sending nothing). Everything still wanted is issued again
// here, from the connection's own state, exactly as if each request had just ended without a result.
internal sealed partial class RingConnection
{
    void IRingOperationOwner.OnMovedToNewRing(List<ulong> leftBehind)
    {
        try
        {
            if (_recvInFlight)
            {
                leftBehind.Add(ReceiveUserData);
                _recvInFlight = false;
                ArmReceive(); // not when paused, starved, done or closing: the old one was being cancelled for that
            }
            if (_peerEndWatchInFlight)
            {
                leftBehind.Add(PeerEndWatchUserData);
                _peerEndWatchInFlight = false;
                if (_close == CloseState.Open && !_peerEnded)
                {
                    ArmPeerEndWatch();
                }
            }
            if (_send == SendState.Sending)
            {
                leftBehind.Add(SendUserData);
                if (_close == CloseState.Open)
                {
                    UnpinSendBuffers();
                    SubmitSend(); // the same bytes: none of them went out
                }
                else
                {
                    OnSendCompleted(-Errno.ECANCELED); // closing: the old send was being cancelled
                }
            }
        }
        catch (Exception ex)
        {
            ((IRingOperationOwner)this).OnFault(ex);
            return;
        }
        AfterEvent(); // a closing connection whose last requests were on the old ring closes now
    }

    void IRingOperationOwner.OnMovedFromRingsEmptied()
    {
        // Nothing to do: a connection's requests on the new ring never compete with those on the old one.
    }
}
