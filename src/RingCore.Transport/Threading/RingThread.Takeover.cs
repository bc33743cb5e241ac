using System.Collections.Concurrent;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

// Inline scheduling with a way out. Application code runs on the loop thread, but only between loop turns
// (RunApplicationWork), where the loop holds nothing half done. A handler that blocks there (sync-over-async,
// Thread.Sleep, a synchronous driver) would stall every connection of the ring; instead, the takeover monitor
// sees the loop thread held by application code for longer than RingTakeoverMonitor.HeldMilliseconds and hands
// the loop to another thread: a standby one if the ring has one, a new one otherwise. The held thread finishes
// its application work whenever it does, finds the loop gone (its compare-and-swap back to ring code fails),
// touches nothing of the ring and waits as a standby for the next takeover.
//
// On a ring set up with SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+, the default) the ring cannot change threads: the new thread
// moves the owners to an io_uring of its own instead (RingThread.OwnerMove.cs); everything else here is the same.
// Why another thread may simply go on with a ring without SINGLE_ISSUER (older kernels): any thread may enter it; the requests the
// held thread submitted keep completing, because their completion work (task_work, COOP_TASKRUN) wakes that
// thread from its interruptible wait or runs at its next return from the kernel, and their CQEs land in the
// shared CQ (measured: docs/design.md, "What the hop costs"). A loop thread never exits while the ring lives,
// since an exiting thread would take the requests it submitted with it.
//
// Who may touch ring state is decided by _loop alone: a state and the epoch of the thread that owns the loop
// (each takeover starts a new epoch). The loop thread moves the state between RingCode and ApplicationCode around
// each item of application work; the monitor moves ApplicationCode to HandedOver in the next epoch (only from
// ApplicationCode, and only once per epoch); the new loop thread sets RingCode in its epoch. A held thread's return
// compares against its own epoch, so it fails even when the new owner is itself in application code at that
// moment. The compare-and-swaps order the old thread's last ring writes before the new thread's first.
// In ApplicationCode the word also carries the item's number and whether the ring could be left when the item
// started (RingLeavable), so the monitor's compare-and-swap hands over exactly the item whose start time and ring
// state it checked: between its read and its swap (which may wait for a new thread's ring) the loop thread may
// finish that item, enter its ring and start the next one, and without the number the word would read the same.
//
// Requests stay with the thread that submitted them: their completion work (task_work) runs on that thread, which
// must wake for it and then wakes the loop thread with the CQE, two switches per completion instead of one. One-shot
// requests end soon; multishot ones (a connection's recv, a listener's accept) would live as long as the
// connection or listener. So their owners note the LoopEpoch they armed one in and, when a completion shows an
// earlier one, cancel it and re-arm it from the current loop thread once its last CQE is in (the same cancel and
// re-arm as for backpressure, so no byte or connection is lost). Idle connections move on their next completion.
//
// Bounds: the thread that takes over exists before the loop is handed to it (a standby, or one started and
// waiting), so a thread that cannot be started (a container's pids limit) leaves the ring with its held thread, as
// if no takeover had been tried. And while MaxHeldThreads threads of a ring are held, its loop hands application
// work to the thread pool instead of running it, so handlers that all block cost the pool's threads, as under
// Kestrel's Sockets transport, not one new thread each.
internal sealed partial class RingThread
{
    private const long LoopInRingCode = 0;
    private const long LoopInApplicationCode = 1;
    private const long LoopHandedOver = 2;
    private const long LoopEnded = 3;
    private const long StateMask = 3;
    private const long RingLeavable = 1 << 2;    // ApplicationCode only: no completion was left unreaped when the item started
    private const int ItemShift = 3;              // ApplicationCode only: the item's number, wrapping at 2^29
    private const long ItemMask = (1L << 29) - 1;
    private const int EpochShift = 32;            // _loop = epoch << EpochShift | item << ItemShift | RingLeavable? | state
    // Application work that holds a loop thread which is running or runnable (not blocked) loses the loop only after
    // this long (RingTakeoverMonitor.HeldMilliseconds for work that blocks). Handlers that never block, wrk on the
    // same 2 cores (plaintext and json, 64 and 256 connections, 5 s each): 12 and 6 takeovers without this and the
    // monitor's garbage-collection allowance, 2 and 8 with this alone, 1 and 1 with both.
    private const long RunnableHeldMilliseconds = 20;

    // The ring whose loop the current thread runs, while it is in ring code; the ring whose application work it
    // runs, while it does.
    [ThreadStatic] private static RingThread? t_ringCodeOf;
    [ThreadStatic] private static RingThread? t_applicationWorkOf;
    [ThreadStatic] private static long t_loopEpoch; // the epoch in which the current thread owns (or owned) a loop

    private readonly ConcurrentStack<StandbyLoopThread> _standby = new();
    private readonly ConcurrentQueue<Thread> _endedLoopThreads = new(); // for Join: the last loop thread and released standbys
    private long _loop;
    private int _ended;
    private int _heldThreads; // loop threads application work holds after they lost the loop (interlocked)
    private long _applicationWorkItems; // ring code: items of application work started, numbering them in _loop
    private int _loopThreadId;          // the kernel's id of the thread that owns the loop (written as it takes the loop)

    /// <summary>A loop thread that lost the loop and waits to take it over again.</summary>
    private sealed class StandbyLoopThread(Thread thread)
    {
        public readonly SemaphoreSlim Signal = new(0);
        public readonly ManualResetEventSlim Ready = new(false, spinCount: 0); // a started thread has made its ring (or failed)
        public readonly Thread Thread = thread;
        public long Epoch;          // the epoch it owns the loop in, written before Signal is released
        public volatile bool Exit;
        public volatile bool HasNoRing;
    }

    /// <summary>
    /// Which loop thread runs ring code now (ring code only): 0 for the first, a new number after every takeover.
    /// An owner whose multishot request was armed in another epoch re-arms it (see the top of this file).
    /// </summary>
    public long LoopEpoch => t_loopEpoch;

    /// <summary>
    /// Whether application work may run on the loop thread: not while <see cref="RingThreadSettings.MaxHeldThreads"/>
    /// threads of this ring are held by earlier work (it then goes to the thread pool). Without takeovers no thread
    /// is ever counted as held.
    /// </summary>
    private bool MayRunApplicationWorkOnLoopThread => Volatile.Read(ref _heldThreads) < _settings.MaxHeldThreads;

    /// <summary>Marks the start of one item of application work; returns the word its end compares against.</summary>
    private long EnterApplicationWork()
    {
        // Whether owners may move off this ring while the item runs: nothing is left to reap (a CQ overflow would be;
        // RingThread.OwnerMove.cs). Read here, by the loop thread, so the monitor never touches ring memory (the ring
        // may be torn down under it); stable while the item holds the thread, which alone enters the ring.
        bool leavable = !_movesOwners || !Ring.HasUnreapedCompletions;
        long item = ++_applicationWorkItems & ItemMask;
        long inApplicationCode = t_loopEpoch << EpochShift | item << ItemShift | (leavable ? RingLeavable : 0) | LoopInApplicationCode;
        t_ringCodeOf = null;
        t_applicationWorkOf = this;
        Volatile.Write(ref _applicationCodeSince, Environment.TickCount64);
        Volatile.Write(ref _loop, inApplicationCode);
        return inApplicationCode;
    }

    /// <summary>
    /// Marks the end of the item <paramref name="inApplicationCode"/> started. False when the loop was handed to
    /// another thread meanwhile: this thread must not touch the ring.
    /// </summary>
    private bool ReturnFromApplicationWork(long inApplicationCode)
    {
        t_applicationWorkOf = null;
        if (Interlocked.CompareExchange(ref _loop, t_loopEpoch << EpochShift | LoopInRingCode, inApplicationCode) != inApplicationCode)
        {
            Interlocked.Decrement(ref _heldThreads);
            return false;
        }
        Volatile.Write(ref _applicationCodeSince, 0);
        t_ringCodeOf = this;
        return true;
    }

    /// <summary>
    /// Takeover monitor: hands the loop to another thread when application work has held the loop thread for at
    /// least <paramref name="heldMilliseconds"/>. True when it did.
    /// </summary>
    public bool TakeOverIfHeld(long now, long heldMilliseconds)
    {
        long loop = Volatile.Read(ref _loop);
        if (!_settings.TakeOverWhenHeld || (loop & StateMask) != LoopInApplicationCode)
        {
            return false;
        }
        // Read after _loop: the start of this item or of a later one, so never earlier than this item's.
        long since = Volatile.Read(ref _applicationCodeSince);
        if (since == 0 || now - since < heldMilliseconds)
        {
            return false;
        }
        if (now - since < RunnableHeldMilliseconds && ThreadSchedulerState.IsRunnable(Volatile.Read(ref _loopThreadId)))
        {
            // Running or waiting for a CPU, not blocked: computing, or preempted on a machine with more runnable
            // threads than cores (a load generator on the same cores), or just resumed after a garbage collection
            // suspended it. A takeover would move every connection of the ring and gain little, so it waits longer.
            // (A thread read after _loop may already be a later epoch's: then the swap below fails anyway.)
            return false;
        }
        if ((loop & RingLeavable) == 0)
        {
            Interlocked.Increment(ref Counters.TakeoversRefused);
            // Completions the held thread has not handled yet (a CQ overflow) would be lost with its ring: it keeps
            // the loop, as without takeovers. Cannot change while this item holds it (see EnterApplicationWork).
            return false;
        }
        if (!_standby.TryPop(out StandbyLoopThread? next) && (next = TryStartStandbyThread()) is null)
        {
            return false; // no thread to hand the loop to: the ring waits for its held thread, as without takeovers
        }
        _settings.TestHooks?.BeforeHandOver?.Invoke(Index);
        long epoch = (loop >> EpochShift) + 1;
        Interlocked.Increment(ref _heldThreads); // before the loop can see itself lost and count its return
        if (Interlocked.CompareExchange(ref _loop, epoch << EpochShift | LoopHandedOver, loop) != loop)
        {
            Interlocked.Decrement(ref _heldThreads);
            ParkStandby(next); // the application work returned meanwhile
            return false;
        }
        Interlocked.Increment(ref Counters.Takeovers);
        next.Epoch = epoch;
        next.Signal.Release();
        return true;
    }

    /// <summary>A new loop thread for this ring, waiting as a standby; null when the system refuses a thread.</summary>
    private StandbyLoopThread? TryStartStandbyThread()
    {
        StandbyLoopThread? standby = null;
        var thread = new Thread(() => RunStartedStandby(standby!)) { IsBackground = true, Name = $"RingCore ring {Index}" };
        standby = new StandbyLoopThread(thread);
        try
        {
            thread.Start();
        }
        catch (Exception ex) when (ex is OutOfMemoryException or ThreadStartException)
        {
            return null; // e.g. a cgroup's pids limit; the held thread keeps the ring
        }
        if (_movesOwners && (!standby.Ready.Wait(StandbyRingTimeoutMilliseconds) || standby.HasNoRing))
        {
            // No ring for it (out of memory, or locked memory): the held thread keeps the ring. Released, the thread
            // disposes what it made and exits.
            standby.Exit = true;
            standby.Signal.Release();
            return null;
        }
        return standby;
    }

    /// <summary>
    /// The body of a loop thread started for a takeover. It waits for its own signal only: the monitor that
    /// started it hands it the loop, or parks it on the standby stack when the takeover did not happen.
    /// </summary>
    private void RunStartedStandby(StandbyLoopThread standby)
    {
        PinToCpu();
        if (_movesOwners)
        {
            try
            {
                CreateOwnRing();
            }
            catch (Exception ex)
            {
                standby.HasNoRing = true;
                LogSafely(ex, "Ring thread {Index}: a thread to take over a held loop could not set up its io_uring; the held thread keeps the loop.");
            }
            standby.Ready.Set();
            if (standby.HasNoRing)
            {
                return;
            }
        }
        if (WaitForHandOver(standby, out long epoch))
        {
            RunLoopUntilEnded(epoch);
        }
        else
        {
            DisposeOwnRing();
        }
    }

    /// <summary>Runs the loop whenever this thread owns it (from <paramref name="epoch"/> on), until the ring ends.</summary>
    private void RunLoopUntilEnded(long epoch)
    {
        while (true)
        {
            t_loopEpoch = epoch;
            Volatile.Write(ref _loopThreadId, Libc.gettid());
            Volatile.Write(ref _awayFromRingSince, Environment.TickCount64);
            Volatile.Write(ref _applicationCodeSince, 0);
            bool movedHere = false;
            if (_movesOwners && _ring != t_ownRing)
            {
                // The loop comes from another thread's io_uring, which only that thread may enter: go on with this
                // thread's own, and move the owners here (MoveOwnersHere, first thing in ring code).
                Volatile.Write(ref _ring, t_ownRing);
                _buffers = t_ownBuffers;
                movedHere = true;
            }
            Volatile.Write(ref _loop, epoch << EpochShift | LoopInRingCode);
            if (_settings.TakeOverWhenHeld && !_movesOwners)
            {
                Ring.TransferToCurrentThread();
            }
            if (RunLoop(movedHere))
            {
                return; // the ring has ended
            }
            if (_movesOwners)
            {
                if (!ReleaseOwnRingAfterMove())
                {
                    return; // its ring could not be emptied: abandoned, and this thread ends
                }
                Post(static s => ((RingThread)s!).OnMovedFromRingEmptied(), this);
            }
            if (!WaitAsStandby(new StandbyLoopThread(Thread.CurrentThread), out epoch))
            {
                DisposeOwnRing();
                return; // the ring has ended
            }
        }
    }

    /// <summary>
    /// Waits on the standby stack to be handed the loop. False when the ring has ended meanwhile: the thread then
    /// exits.
    /// </summary>
    private bool WaitAsStandby(StandbyLoopThread me, out long epoch)
    {
        ParkStandby(me);
        return WaitForHandOver(me, out epoch);
    }

    /// <summary>Waits for the monitor to hand <paramref name="me"/> the loop (true) or the ring's end to release it (false).</summary>
    private static bool WaitForHandOver(StandbyLoopThread me, out long epoch)
    {
        me.Signal.Wait();
        epoch = me.Epoch;
        return !me.Exit;
    }

    /// <summary>Puts a standby on the stack; releases it at once when the ring has ended.</summary>
    private void ParkStandby(StandbyLoopThread standby)
    {
        _standby.Push(standby);
        // EndStandbyThreads sets _ended before it empties the stack, so a standby pushed after that is released
        // here, and one pushed before is released there.
        if (Volatile.Read(ref _ended) != 0)
        {
            EndStandbyThreads();
        }
    }

    /// <summary>The ring has ended: standby loop threads exit (held ones do when their application work returns).</summary>
    private void EndStandbyThreads()
    {
        Interlocked.Exchange(ref _ended, 1);
        while (_standby.TryPop(out StandbyLoopThread? standby))
        {
            standby.Exit = true;
            standby.Signal.Release();
            _endedLoopThreads.Enqueue(standby.Thread);
        }
    }
}
