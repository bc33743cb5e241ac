namespace RingCore.Transport.Threading;

/// <summary>
/// With Inline scheduling, hands a ring's loop to another thread when application code has held its loop thread
/// for <see cref="HeldMilliseconds"/> (see RingThread.Takeover.cs). A thread of its own, not a timer: timer
/// callbacks run on the thread pool, which the very handlers that block may have exhausted.
/// </summary>
internal sealed class RingTakeoverMonitor : IDisposable
{
    /// <summary>
    /// Application work that holds a loop thread this long loses the loop. Long enough that ordinary handlers
    /// (well under a millisecond) never cause a takeover; short enough that a blocked one costs the ring's other
    /// connections a few milliseconds (Environment.TickCount64 counts in the kernel's ticks, up to 4 ms).
    /// </summary>
    public const long HeldMilliseconds = 5;

    // Checks while a ring is awake; a ring asleep in the kernel runs no application code, so checks space out.
    // Every check wakes this thread, which on a busy machine takes a core from a ring thread: at 1 ms it woke
    // about 860 times a second under load and used 1.4 % of a core, at 5 ms 200 times and 0.5 % (plaintext, 64
    // connections, /proc/PID/task/*/stat). A held loop is then found after HeldMilliseconds plus up to one period
    // and one TickCount64 tick: 5-14 ms.
    private const int BusyPeriodMilliseconds = 5;
    private const int IdlePeriodMilliseconds = 20;

    private readonly RingThread[] _rings;
    private readonly ManualResetEventSlim _stop = new(false, spinCount: 0); // no spinning between checks
    private readonly Thread _thread;

    public RingTakeoverMonitor(RingThread[] rings)
    {
        _rings = rings;
        _thread = new Thread(Run) { IsBackground = true, Name = "RingCore monitor" };
        _thread.Start();
    }

    private void Run()
    {
        int period = IdlePeriodMilliseconds;
        TimeSpan pausedBefore = GC.GetTotalPauseDuration();
        while (!_stop.Wait(period))
        {
            // A garbage collection suspends every managed thread: time the runtime paused since the last check is
            // not time application code held a loop thread, so it is taken off the clock.
            TimeSpan paused = GC.GetTotalPauseDuration();
            long now = Environment.TickCount64 - (long)(paused - pausedBefore).TotalMilliseconds;
            pausedBefore = paused;
            bool anyAwake = false;
            foreach (RingThread ring in _rings)
            {
                ring.TakeOverIfHeld(now, HeldMilliseconds);
                anyAwake |= !ring.IsSleeping;
            }
            period = anyAwake ? BusyPeriodMilliseconds : IdlePeriodMilliseconds;
        }
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join(TimeSpan.FromSeconds(1));
    }
}
