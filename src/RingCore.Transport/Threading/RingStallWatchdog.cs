namespace RingCore.Transport.Threading;

/// <summary>
/// Notices a ring thread kept away from its ring. With UnsafeInline scheduling, request handlers run on the ring
/// thread; one that blocks stalls every connection of that ring, which a user sees only as slow or hung requests.
/// The watchdog turns that into one warning per stall, and says truthfully who holds the thread: application
/// code (then it names the setting that fixes it) or the transport's own work.
/// </summary>
internal sealed class RingStallWatchdog : IDisposable
{
    /// <summary>A ring thread away from its ring longer than this is stalled.</summary>
    public static readonly TimeSpan StallThreshold = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan CheckPeriod = TimeSpan.FromMilliseconds(250);

    private readonly RingThread[] _threads;
    private readonly RingCoreLog _log;
    private readonly Timer _timer;
    private int _checking;

    public RingStallWatchdog(RingThread[] threads, RingCoreLog log)
    {
        _threads = threads;
        _log = log;
        _timer = new Timer(static s => ((RingStallWatchdog)s!).Check(), this, CheckPeriod, CheckPeriod);
    }

    private void Check()
    {
        if (Interlocked.Exchange(ref _checking, 1) == 1)
        {
            return; // the previous check is still running
        }
        try
        {
            long now = Environment.TickCount64;
            foreach (RingThread thread in _threads)
            {
                long away = thread.MillisecondsAwayFromRing(now);
                long since = thread.AwayFromRingSince;
                if (away > StallThreshold.TotalMilliseconds && since != 0 && thread.ReportedStall != since)
                {
                    thread.ReportedStall = since; // once per stall
                    if (thread.InApplicationCode)
                    {
                        _log.RingThreadStalled(thread.Index, away, thread.OwnerCount);
                    }
                    else
                    {
                        _log.RingThreadStalledInTransport(thread.Index, away, thread.OwnerCount);
                    }
                }
            }
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    public void Dispose() => _timer.Dispose();
}
