using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

/// <summary>
/// One OS thread, one io_uring, for the ring's whole life: the thread creates the ring (SINGLE_ISSUER ties the ring to
/// it), runs its loop and tears it down; nothing ever moves the ring, its connections or its listeners to another
/// thread. The thread is also a <see cref="PipeScheduler"/>: pipe continuations of the transport run here without a
/// thread-pool hop. Other threads wake it through an eventfd whose read is kept armed in the ring; they only write
/// the eventfd when the loop has said it is about to sleep.
/// </summary>
/// <remarks>
/// One loop turn, and the rules that keep it from feeding itself:
/// 1. run a bounded batch of work posted from other threads;
/// 2. resume receivers starved of buffers, at most one buffer ring's worth;
/// 3. publish the buffer ring's tail, then one io_uring_enter (which publishes the CQ head and the SQ first),
///    waiting only when nothing is left to do (no posted work, no backlog, no starved receiver to resume);
/// 4. reap at most one CQ's worth of completions. Handlers only prepare SQEs (an SQE that does not fit waits in
///    the ring's backlog), so nothing a handler does can complete before the next enter.
/// With UnsafeInline scheduling, application code that completions resume (Kestrel's request processing) is queued
/// and run at the top of the next turn, outside any reap, so a handler never runs in the middle of a completion's
/// bookkeeping; a handler that blocks there holds the whole ring (the stall watchdog reports it).
/// An exception in a handler or in posted work ends its owner only. A failed io_uring_enter fails the ring:
/// every owner is failed cleanly and the ring's memory is left mapped, since the kernel may still write into it.
/// </remarks>
internal sealed unsafe class RingThread : PipeScheduler, ICqeHandler
{
    private const byte OpWake = 1;
    private const byte OpIgnore = 2;
    private const int MaxWorkItemsPerTurn = 4096;

    private readonly RingThreadSettings _settings;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<(Action<object?> Action, object? State)> _workQueue = new();
    private readonly Queue<(Action<object?> Action, object? State)> _applicationWork = new(); // ring code only
    private readonly Queue<IStarvedReceiver> _starved = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly OperationTable _operations = new();
    private CompletionBatcher _batcher = new(waitNanoseconds: 0); // replaced in Initialize, once the ring's flags are known
    private readonly Thread _thread;
    private long _awayFromRingSince;      // Environment.TickCount64 when the loop last left io_uring_enter; 0 inside it
    private long _applicationCodeSince;   // when the loop started the application work it runs (UnsafeInline); 0 when none
    private uint _receivesPrepared;       // receive SQEs prepared since the last enter (see OnReceivePrepared)
    private int _sleeping;
    private int _wakersInFlight;   // posters between seeing _sleeping and writing the eventfd
    private int _eventFd = -1;
    private ulong* _wakeBuffer;
    private volatile bool _failed;
    private bool _stopping;
    private bool _wakeArmed;
    private bool _wakeCancelled;
    private IoUring? _ring;               // created by Initialize, on this thread
    private ProvidedBufferRing? _buffers;
    private RingLoopSteps _steps = null!;       // how the loop enters the ring and runs posted work (a test may inject faults)

    // The ring thread the current thread is (null on every other thread).
    [ThreadStatic] private static RingThread? t_current;

    /// <summary>Running totals, read by metrics.</summary>
    public RingThreadCounters Counters { get; } = new();

    private RingThread(RingThreadSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = $"RingCore ring {settings.Index}" };
        ApplicationScheduler = new InlineApplicationScheduler(this);
    }

    public int Index => _settings.Index;

    /// <summary>The ring; only for use on this thread.</summary>
    public IoUring Ring => _ring!;

    /// <summary>The provided-buffer ring receives select from; only for use on this thread.</summary>
    public ProvidedBufferRing Buffers => _buffers!;

    /// <summary>Runs application code on this ring's thread, between loop turns (UnsafeInline scheduling).</summary>
    public PipeScheduler ApplicationScheduler { get; }

    /// <summary>False once the ring has failed: it takes no new connections and runs no more work.</summary>
    public bool IsAlive => !_failed;

    /// <summary>
    /// How long the loop has been away from io_uring_enter (running handlers, posted work and, with UnsafeInline
    /// scheduling, application code), in milliseconds; 0 while it is in the kernel. Read by the stall watchdog.
    /// </summary>
    public long MillisecondsAwayFromRing(long now)
    {
        long since = Volatile.Read(ref _awayFromRingSince);
        return since == 0 ? 0 : Math.Max(0, now - since);
    }

    /// <summary>
    /// How long the ring thread has been running its current item of application code (UnsafeInline scheduling
    /// only), in milliseconds; 0 when it runs none.
    /// </summary>
    public long MillisecondsInApplicationCode(long now)
    {
        long since = Volatile.Read(ref _applicationCodeSince);
        return since == 0 ? 0 : Math.Max(1, now - since);
    }

    /// <summary>Whether the ring thread is running application code right now (UnsafeInline scheduling only).</summary>
    public bool InApplicationCode => Volatile.Read(ref _applicationCodeSince) != 0;

    /// <summary>The away-since stamp of the stall the watchdog last reported (watchdog use only).</summary>
    internal long ReportedStall;

    /// <summary>The current away-since stamp (0 while in the kernel).</summary>
    internal long AwayFromRingSince => Volatile.Read(ref _awayFromRingSince);

    /// <summary>The thread has begun to stop: it takes no new owners (ring thread only).</summary>
    public bool IsStopping => _stopping;

    /// <summary>True while the thread waits in the kernel with no bound (posting to it then costs a wake-up).</summary>
    public bool IsSleeping => Volatile.Read(ref _sleeping) == 1;

    /// <summary>True when the calling thread is this ring's thread.</summary>
    public bool IsCurrentThread => t_current == this;

    /// <summary>
    /// True when the calling thread is this ring's thread and runs ring code: only then may it touch ring state (the
    /// SQ, the operation table, the buffer ring, the pipes' ring side) in the middle of its work. False on other
    /// threads and while this thread runs application work (UnsafeInline), which hands its sends to the ring as posted
    /// work instead, so the flushes of one response go out in one send after the handler yields.
    /// </summary>
    public bool InRingCode => t_current == this && !InApplicationCode;

    /// <summary>True when the calling thread is this ring's thread running application work (UnsafeInline).</summary>
    public bool InApplicationWorkOnThisThread => t_current == this && InApplicationCode;

    /// <summary>Completes when the thread has torn its ring down (or failed) and is about to exit.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Number of owners (connections, acceptors) registered on this ring.</summary>
    public int OwnerCount => _operations.Count;

    /// <summary>What the registered owners wait for (any thread, best effort; for a stop that timed out).</summary>
    public string DescribeOwners() => _operations.DescribeFromOtherThread(max: 5);

    /// <summary>Receivers waiting for buffers (ring thread; diagnostics).</summary>
    public int StarvedCount => _starved.Count;

    /// <summary>
    /// Starts the thread and waits until its ring exists. Throws <see cref="RingUnavailableException"/> when the
    /// ring cannot be created.
    /// </summary>
    public static RingThread Start(RingThreadSettings settings, ILogger logger)
    {
        var thread = new RingThread(settings, logger);
        thread._thread.Start();
        thread._started.Task.GetAwaiter().GetResult();
        return thread;
    }

    public ulong Register(IRingOperationOwner owner) => _operations.Register(owner);

    public void Unregister(ulong token) => _operations.Unregister(token);

    /// <summary>
    /// A receive SQE was prepared this turn (ring thread). The completion batcher must not count it among the
    /// submissions that complete during the enter: a receive waits for data.
    /// </summary>
    public void OnReceivePrepared() => _receivesPrepared++;

    /// <summary>Queues a receiver that ran out of buffers; it is resumed when buffers are back (ring thread).</summary>
    public void AddStarved(IStarvedReceiver receiver)
    {
        Counters.BufferRingExhausted++;
        _starved.Enqueue(receiver);
    }

    /// <summary>Runs <paramref name="action"/> on the ring thread, later (never inline).</summary>
    public void Post(Action<object?> action, object? state)
    {
        _workQueue.Enqueue((action, state));
        if (Volatile.Read(ref _sleeping) == 1)
        {
            Interlocked.Increment(ref _wakersInFlight);
            if (Interlocked.Exchange(ref _sleeping, 0) == 1)
            {
                Wake();
            }
            Interlocked.Decrement(ref _wakersInFlight);
        }
    }

    public override void Schedule(Action<object?> action, object? state) => Post(action, state);

    /// <summary>
    /// Runs application code (a continuation Kestrel registered on a pipe): queued for the top of the next loop
    /// turn when ring code resumes it; on the thread pool when a failed ring resumes it (its last acts must not wait
    /// for a handler); at once, on the calling thread, when an application thread does.
    /// </summary>
    public void ScheduleApplicationWork(Action<object?> action, object? state)
    {
        if (!InRingCode)
        {
            action(state);
        }
        else if (_failed)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
        }
        else
        {
            _applicationWork.Enqueue((action, state));
        }
    }

    /// <summary>Waits for the thread to exit (it does right after <see cref="Stopped"/> completes).</summary>
    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    /// <summary>Asks the thread to close what it owns and exit once every operation has completed.</summary>
    public Task StopAsync()
    {
        Post(static s => ((RingThread)s!).BeginStop(), this);
        return _stopped.Task;
    }

    private void Wake()
    {
        Interlocked.Increment(ref Counters.Wakeups);
        ulong one = 1;
        Libc.write(_eventFd, &one, sizeof(ulong));
    }

    private void Run()
    {
        t_current = this;
        try
        {
            Initialize();
        }
        catch (Exception ex)
        {
            Teardown();
            _started.SetException(ex);
            _stopped.TrySetResult();
            return;
        }
        _settings.Metrics?.Track(this);
        _started.SetResult();
        bool failed = false;
        try
        {
            Loop();
        }
        catch (Exception ex)
        {
            failed = true;
            Fail(ex);
        }
        finally
        {
            Volatile.Write(ref _awayFromRingSince, 0); // a thread that is gone stalls nobody
            Volatile.Write(ref _applicationCodeSince, 0);
            _settings.Metrics?.Retire(this);
            if (!failed)
            {
                Teardown();
            }
            _stopped.TrySetResult();
        }
    }

    private void PinToCpu()
    {
        if (_settings.Cpu is int cpu)
        {
            ulong* mask = stackalloc ulong[16];
            new Span<ulong>(mask, 16).Clear();
            mask[cpu / 64] |= 1UL << (cpu % 64);
            Libc.sched_setaffinity(0, 16 * sizeof(ulong), mask); // best effort: a restricted cpuset may refuse
        }
    }

    private void Initialize()
    {
        PinToCpu();
        _ring = IoUring.Create(_settings.Ring);
        RingRequirements.Check(_ring);
        // Only a DEFER_TASKRUN ring sleeps through a batched wait: it wakes its thread once the batch is complete. On
        // any other ring each completion's task work wakes the waiting thread anyway (COOP_TASKRUN notifies the
        // submitter whenever its work list was empty), so a batched wait saves no wake-up and only holds finished
        // requests back.
        _batcher = new CompletionBatcher(_ring.HasDeferTaskrun ? _settings.CompletionBatchWaitNanoseconds : 0);
        _buffers = ProvidedBufferRing.Register(_ring, groupId: 0, _settings.BufferRingEntries, _settings.BufferSize, _settings.IncrementalBuffers);
        _steps = _settings.TestHooks?.WrapLoopSteps(Index, _ring) ?? RingLoopSteps.Direct(_ring);
        _eventFd = Libc.eventfd(0, Libc.EFD_CLOEXEC); // blocking: io_uring polls it, a non-blocking fd would fail with EAGAIN
        if (_eventFd < 0)
        {
            throw new IOException($"eventfd failed: {Errno.Describe(Libc.LastErrno)}");
        }
        _wakeBuffer = (ulong*)NativeMemory.Alloc(sizeof(ulong));
        ArmWakeRead();
    }

    private void ArmWakeRead()
    {
        SqePrep.PrepRead(ref Ring.GetSqe(), _eventFd, _wakeBuffer, sizeof(ulong), 0, OperationTable.UserData(0, OpWake));
        _wakeArmed = true;
    }

    /// <summary>Runs loop turns until the ring has stopped and every operation has completed.</summary>
    private void Loop()
    {
        while (true)
        {
            RunApplicationWork();
            RunPostedWork();
            ResumeStarvedReceivers();
            if (_stopping && _operations.Count == 0)
            {
                if (!_wakeArmed && _applicationWork.Count == 0)
                {
                    return;
                }
                // The kernel may still write the wake buffer; cancel the read and wait for its CQE before freeing it.
                if (!_wakeCancelled)
                {
                    _wakeCancelled = true;
                    SqePrep.PrepCancel(ref Ring.GetSqe(), OperationTable.UserData(0, OpWake), IgnoredUserData);
                }
            }

            uint toSubmit = Ring.PendingSubmissions + (uint)Ring.BacklogCount;
            // What this enter submits and sees complete at once (sends on loopback, cancels): receives wait for data,
            // so they are neither a sign of load nor something to wait for.
            uint completingAtOnce = toSubmit - Math.Min(toSubmit, _receivesPrepared);
            _receivesPrepared = 0;
            bool workLeft = !_workQueue.IsEmpty || _applicationWork.Count > 0 || _starved.Count > 0 || toSubmit > Ring.SqEntries;
            uint batchTarget = _stopping || workLeft ? 0 : _batcher.BatchTarget(completingAtOnce, Counters.ActiveConnections);
            bool batched = batchTarget > 0;
            if (batched)
            {
                Counters.BatchedWaits++;
            }
            uint waitFor = workLeft ? 0 : batched ? Math.Min(batchTarget, Ring.CqEntries / 2) : 1;
            if (waitFor > 0 && !batched)
            {
                Interlocked.Exchange(ref _sleeping, 1);
                if (!_workQueue.IsEmpty)
                {
                    Volatile.Write(ref _sleeping, 0);
                    waitFor = 0;
                }
            }
            // A batched wait is bounded by its timeout, so posters need not write the eventfd: their work runs
            // when the wait ends.

            Buffers.Publish();
            Volatile.Write(ref _awayFromRingSince, 0);
            _steps.Enter(waitFor, batched ? _batcher.WaitNanoseconds : 0);
            Volatile.Write(ref _awayFromRingSince, Environment.TickCount64);
            Volatile.Write(ref _sleeping, 0);
            int reaped = Ring.ReapCompletions(this, (int)Ring.CqEntries);
            if (waitFor > 0)
            {
                _batcher.OnWaited(waitFor, completingAtOnce, reaped, batched);
            }
            if (_settings.Metrics is { CompletionsPerEnter.Enabled: true } metrics)
            {
                metrics.RecordCompletionsPerEnter(reaped, Index);
            }
        }
    }

    /// <summary>Runs the application work queued since the last turn (UnsafeInline scheduling), outside any reap.</summary>
    private void RunApplicationWork()
    {
        for (int i = 0; i < MaxWorkItemsPerTurn && _applicationWork.TryDequeue(out var item); i++)
        {
            Volatile.Write(ref _applicationCodeSince, Environment.TickCount64); // never 0: the tick count starts at boot
            try
            {
                item.Action(item.State);
            }
            catch (Exception ex)
            {
                // Pipe continuations report their own errors; one that throws anyway must not end the ring.
                LogSafely(ex, "Unhandled exception in application code run on ring thread {Index}.");
            }
            finally
            {
                Volatile.Write(ref _applicationCodeSince, 0);
            }
        }
    }

    private void RunPostedWork()
    {
        for (int i = 0; i < MaxWorkItemsPerTurn && _workQueue.TryDequeue(out var item); i++)
        {
            try
            {
                _steps.RunPosted(item.Action, item.State);
            }
            catch (Exception ex)
            {
                // Work posted for an owner ends that owner only; anything else is logged and the loop goes on.
                if (item.State is IRingOperationOwner owner)
                {
                    owner.OnFault(ex);
                }
                else
                {
                    LogSafely(ex, "Unhandled exception in work scheduled on ring thread {Index}.");
                }
            }
        }
    }

    /// <summary>
    /// Re-arms receivers that found the buffer ring empty, oldest first. Every buffer came back during the last
    /// reap (bytes are copied out at once), so at most one ring's worth is resumed per turn: a receive with data
    /// takes at least one buffer, and one that finds the ring empty again simply rejoins the end of the queue.
    /// </summary>
    private void ResumeStarvedReceivers()
    {
        for (int budget = Buffers.EntryCount; budget > 0 && _starved.TryDequeue(out IStarvedReceiver? receiver); budget--)
        {
            receiver.ResumeReceive();
        }
    }

    public void OnCompletion(in IoUringCqe cqe)
    {
        if (OperationTable.IsRingThreadOwn(cqe.UserData))
        {
            if (OperationTable.OperationOf(cqe.UserData) == OpWake)
            {
                _wakeArmed = false;
                if (!_wakeCancelled)
                {
                    ArmWakeRead();
                }
            }
            return;
        }

        IRingOperationOwner? owner = _operations.Find(cqe.UserData);
        if (owner is null)
        {
            // Stale: its owner is gone. A buffer it carries still belongs back in the ring.
            if ((cqe.Flags & IoUringCqeFlags.Buffer) != 0)
            {
                Buffers.Release(cqe.Flags, cqe.Res);
            }
            return;
        }
        try
        {
            owner.OnCompletion(OperationTable.OperationOf(cqe.UserData), cqe.Res, cqe.Flags);
        }
        catch (Exception ex)
        {
            owner.OnFault(ex);
        }
    }

    /// <summary>user_data for an SQE whose completion nobody needs to see.</summary>
    public static ulong IgnoredUserData => OperationTable.UserData(0, OpIgnore);

    private void BeginStop()
    {
        if (_stopping)
        {
            return;
        }
        _stopping = true;
        foreach (IRingOperationOwner owner in _operations.Snapshot())
        {
            try
            {
                owner.OnRingStopping();
            }
            catch (Exception ex)
            {
                owner.OnFault(ex);
            }
        }
    }

    /// <summary>
    /// The ring cannot go on (io_uring_enter refused, or a bug in the loop itself). Every owner is failed cleanly
    /// so Kestrel sees its connections end and this ring's listeners leave their SO_REUSEPORT groups; the ring,
    /// its buffer ring and the wake buffer stay mapped and allocated, because the kernel may still write into them.
    /// </summary>
    private void Fail(Exception exception)
    {
        _failed = true; // from here application continuations run on the thread that resumes them
        while (_applicationWork.TryDequeue(out var item))
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(item.Action, item.State, preferLocal: false);
        }
        try
        {
            _logger.LogCritical(exception, "Ring thread {Index} failed: {Reason}. Its {Count} connection(s) and listener(s) are closed; the other rings keep serving.",
                Index, exception.Message, _operations.Count);
        }
        catch
        {
            // A logging provider that throws must not take the process down with the ring.
        }
        foreach (IRingOperationOwner owner in _operations.Snapshot())
        {
            owner.OnRingFailed(exception);
        }
        while (_workQueue.TryDequeue(out var item))
        {
            (item.State as IRingOperationOwner)?.OnRingFailed(exception);
        }
    }

    private void LogSafely(Exception exception, string message)
    {
        try
        {
            _logger.LogError(exception, message, Index);
        }
        catch
        {
            // Logging must never be what ends a ring.
        }
    }

    private void Teardown()
    {
        _buffers?.Dispose();
        _ring?.Dispose();
        if (_eventFd >= 0)
        {
            // A poster that saw the loop asleep may still be about to write the eventfd: let it finish first,
            // or its write could land in whatever file gets this fd number next.
            Volatile.Write(ref _sleeping, 0);
            SpinWait.SpinUntil(() => Volatile.Read(ref _wakersInFlight) == 0);
            Libc.close(_eventFd);
            _eventFd = -1;
        }
        if (_wakeBuffer != null)
        {
            NativeMemory.Free(_wakeBuffer);
            _wakeBuffer = null;
        }
    }
}
