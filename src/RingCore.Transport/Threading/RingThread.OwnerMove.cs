using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

// A takeover of a ring set up with SINGLE_ISSUER (and DEFER_TASKRUN, which needs it): the held thread's io_uring
// cannot change threads (every other task gets EEXIST from io_uring_enter and io_uring_register alike) and makes no
// progress at all while its thread is held (DEFER_TASKRUN runs completion work only inside that thread's enter). So
// each loop thread has an io_uring of its own, and a takeover moves the owners (connections, acceptors, connects),
// not the ring:
// 1. The new loop thread continues on its own io_uring and asks every owner to issue again what it had in flight
//    (IRingOperationOwner.OnMovedToNewRing); each owner names the requests it left behind.
// 2. The held thread, when its application work returns, cancels exactly those requests on its own io_uring before
//    it enters it for anything else (so before any completion work queued while it was held can run): a receive
//    whose data arrived meanwhile ends with -ECANCELED and the bytes stay in the socket for the new ring; an accept
//    leaves its connection in the listen backlog; a send waits in the kernel only after sending nothing, so
//    cancelled it has sent nothing (samples/experiments/HeldDeferRing.cs shows the receive both ways, with the
//    cancel first and without it). It then waits for every cancelled request's last CQE, and its emptied io_uring
//    serves its next takeover as a standby.
// Nothing is left to reap on the old ring when the owners move: the held thread reaped its CQ before running
// application work, a DEFER_TASKRUN ring posts nothing between its thread's enters, and TakeOverIfHeld refuses a ring
// with unreaped completions (a CQ overflow). Cancelling by user_data costs one hash lookup per request; cancelling
// everything at once (IORING_ASYNC_CANCEL_ANY) rescans the request table for every request it finds, which took
// over a second for 9,000 connections, so it is only the fallback when the list never came.
// While a held thread never returns, its io_uring keeps its requests armed, and each holds a reference to its
// socket: a moved connection that closes still reaches its peer at once (shutdown, or the reset by connect with
// AF_UNSPEC, both done on the socket, not through the ring), but the socket itself is freed only when the held
// thread cancels, and that io_uring's fd stays open until then.
internal sealed partial class RingThread
{
    private const byte OpCancelLeftBehind = 3;   // ring-thread-own user_data of the cancels that empty a moved-from ring
    private const int StandbyRingTimeoutMilliseconds = 1000;
    private const int LeftBehindTimeoutMilliseconds = 5000;
    private const int DrainMilliseconds = 5000;

    [ThreadStatic] private static IoUring? t_ownRing;                // the io_uring this loop thread created (and alone may enter)
    [ThreadStatic] private static ProvidedBufferRing? t_ownBuffers;  // its provided buffers

    // Requests left on a moved-from io_uring, by the loop epoch of the held thread that owns it (one per takeover):
    // published by the thread the owners moved to, taken by the held thread when its application work returns.
    private readonly ConcurrentDictionary<long, RequestsLeftBehind> _leftBehind = new();
    private int _movedFromRingsNotEmptied; // ring code: io_urings the loop moved away from whose threads have not emptied them

    private sealed class RequestsLeftBehind
    {
        public readonly ManualResetEventSlim Published = new(false, spinCount: 0);
        public ulong[] UserData = [];
    }

    /// <summary>Sets up this loop thread's own io_uring and buffers, the same as the first loop thread's (a standby).</summary>
    private void CreateOwnRing()
    {
        IoUring ring = IoUring.Create(_settings.Ring);
        try
        {
            t_ownBuffers = RegisterBuffers(ring);
        }
        catch
        {
            ring.Dispose();
            throw;
        }
        t_ownRing = ring;
        AddPhysicalRing(ring);
    }

    /// <summary>Disposes this thread's own io_uring (a standby's, on its way out: nothing is in flight on it).</summary>
    private static void DisposeOwnRing()
    {
        t_ownBuffers?.Dispose();
        t_ownRing?.Dispose();
        t_ownBuffers = null;
        t_ownRing = null;
    }

    /// <summary>
    /// Ring code, first thing on a thread the loop was handed to from another thread's io_uring (step 1 at the top of
    /// this file). Publishes what the owners left behind even if one of them fails.
    /// </summary>
    private void MoveOwnersHere()
    {
        var leftBehind = new List<ulong>();
        _movedFromRingsNotEmptied++;
        try
        {
            _receivesPrepared = 0;
            if (_wakeArmed)
            {
                leftBehind.Add(OperationTable.UserData(0, OpWake));
                _wakeArmed = false;
                if (!_wakeCancelled)
                {
                    ArmWakeRead();
                }
            }
            foreach (IRingOperationOwner owner in _operations.Snapshot())
            {
                owner.OnMovedToNewRing(leftBehind); // does not throw: an owner's failure ends that owner only
                Counters.MovedRequests++;
            }
        }
        finally
        {
            // The held thread's epoch: a takeover hands the loop over from epoch e to e + 1 (TakeOverIfHeld).
            RequestsLeftBehind entry = _leftBehind.GetOrAdd(t_loopEpoch - 1, static _ => new RequestsLeftBehind());
            entry.UserData = leftBehind.ToArray();
            entry.Published.Set();
        }
    }

    /// <summary>
    /// The held thread, back from application work that lost it the loop (step 2 at the top of this file). True when
    /// its io_uring is empty again; false when it could not be emptied: abandoned, its memory left allocated (the
    /// kernel may still use it), and the thread ends.
    /// </summary>
    private bool ReleaseOwnRingAfterMove()
    {
        IoUring ring = t_ownRing!;
        RequestsLeftBehind entry = _leftBehind.GetOrAdd(t_loopEpoch, static _ => new RequestsLeftBehind());
        bool published = entry.Published.Wait(LeftBehindTimeoutMilliseconds);
        _leftBehind.TryRemove(t_loopEpoch, out _); // a list published after the timeout stays, keyed by an epoch never held again
        ulong cancelUserData = OperationTable.UserData(0, OpCancelLeftBehind);
        CancelledRingDrain? drain = null;
        try
        {
            ring.DiscardUnsubmitted(); // prepared before the hold, and issued again by the owners on the new ring
            if (published)
            {
                foreach (ulong userData in entry.UserData)
                {
                    SqePrep.PrepCancel(ref ring.GetSqe(), userData, cancelUserData);
                }
                drain = new CancelledRingDrain(t_ownBuffers!, cancelUserData, cancels: entry.UserData.Length, cancelsAll: false);
            }
            else
            {
                SqePrep.PrepCancelEverything(ref ring.GetSqe(), cancelUserData);
                drain = new CancelledRingDrain(t_ownBuffers!, cancelUserData, cancels: 1, cancelsAll: true);
            }
            // Every cancel is in the kernel before any completion work runs: GETEVENTS would run the work queued while
            // the thread was held, and a receive whose cancel is still in the backlog would take its data. The
            // cancels' own CQEs are reaped between enters (reaping runs no work), so the CQ never overflows.
            long deadline = Environment.TickCount64 + DrainMilliseconds;
            while ((ring.PendingSubmissions > 0 || ring.BacklogCount > 0) && Environment.TickCount64 < deadline)
            {
                ring.SubmitWithoutCompletionWork();
                ring.ReapCompletions(drain);
            }
            while (!drain.IsComplete && Environment.TickCount64 < deadline)
            {
                ring.SubmitAndWait(1, timeoutNanoseconds: 50_000_000);
                ring.ReapCompletions(drain);
            }
            // Completion work queued before the cancels (a pause timeout that fired while held: its cancel found
            // nothing) has run by now, ahead of theirs; one more enter runs anything still pending, so no stale CQE
            // reaches an owner when this ring serves the loop again.
            ring.SubmitAndWait(0);
            ring.ReapCompletions(drain);
        }
        catch (Exception ex)
        {
            LogSafely(ex, "Ring thread {Index}: emptying the io_uring a takeover moved away from failed.");
        }
        if (drain is { CompletedInstead: > 0 })
        {
            Interlocked.Add(ref Counters.ResultsDroppedAfterMove, drain.CompletedInstead);
            LogErrorSafely($"Ring thread {Index}: {drain.CompletedInstead} request(s) on the io_uring a takeover moved away from completed instead of being cancelled; their results were dropped:{drain.Examples}");
        }
        if (drain is not { IsComplete: true })
        {
            LogErrorSafely($"Ring thread {Index}: the io_uring a takeover moved away from could not be emptied ({drain?.Describe() ?? "no cancel submitted"}" +
                $"{(published ? "" : "; the requests left on it were never named")}); it is abandoned.");
            t_ownRing = null;
            t_ownBuffers = null;
            return false;
        }
        return true;
    }

    /// <summary>Posted by a held thread that has emptied its io_uring (ring code).</summary>
    private void OnMovedFromRingEmptied()
    {
        if (--_movedFromRingsNotEmptied > 0)
        {
            return;
        }
        foreach (IRingOperationOwner owner in _operations.Snapshot())
        {
            owner.OnMovedFromRingsEmptied(); // does not throw
        }
    }

    private void LogErrorSafely(string message)
    {
        try
        {
            _logger.LogError("{Message}", message);
        }
        catch
        {
            // Logging must never be what ends a loop thread.
        }
    }

    /// <summary>
    /// Reaps a moved-from io_uring after its cancels: counts the cancels answered and the requests that ended, and
    /// gives back any buffer a completion carries.
    /// </summary>
    private sealed class CancelledRingDrain(ProvidedBufferRing buffers, ulong cancelUserData, int cancels, bool cancelsAll) : ICqeHandler
    {
        private int _cancelsAnswered;
        private long _cancelled;  // requests the cancels found, each of which ends with a CQE of its own
        private long _ended;

        /// <summary>Requests that completed with a result instead of -ECANCELED (must stay 0).</summary>
        public long CompletedInstead { get; private set; }

        /// <summary>The first few of those, for the log.</summary>
        public string Examples { get; private set; } = "";

        public bool IsComplete => _cancelsAnswered == cancels && _ended >= _cancelled;

        public string Describe() => $"{_cancelsAnswered} of {cancels} cancels answered, {_cancelled} requests found, {_ended} ended";

        public void OnCompletion(in IoUringCqe cqe)
        {
            if (cqe.UserData == cancelUserData)
            {
                _cancelsAnswered++;
                // One request: 0 when cancelled, -EALREADY when it was running and ends by itself, -ENOENT when it
                // had already ended (or was never submitted). Everything (ANY | ALL): how many it cancelled.
                _cancelled += cancelsAll ? Math.Max(0, cqe.Res) : cqe.Res is 0 or -Errno.EALREADY ? 1 : 0;
                return;
            }
            if ((cqe.Flags & IoUringCqeFlags.Buffer) != 0)
            {
                buffers.Release(cqe.Flags, cqe.Res);
            }
            if (cqe.Res > 0)
            {
                if (CompletedInstead++ < 3)
                {
                    Examples += $" [user_data 0x{cqe.UserData:x} res {cqe.Res} flags 0x{cqe.Flags:x}]";
                }
            }
            if ((cqe.Flags & IoUringCqeFlags.More) == 0)
            {
                _ended++;
            }
        }
    }
}
