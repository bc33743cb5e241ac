namespace RingCore.Transport.Threading;

/// <summary>
/// Running totals of one ring thread. The ring thread writes them with plain increments (no lock, no
/// interlocked: one writer); metrics read them from other threads, where a value a moment old is fine.
/// <see cref="Wakeups"/> is written by the posting threads, so it is interlocked.
/// </summary>
internal sealed class RingThreadCounters
{
    public long ConnectionsOpened;
    public long ConnectionsClosed;
    public long BytesReceived;
    public long BytesSent;
    public long BufferRingExhausted;   // ENOBUFS completions
    public long AcceptPauses;          // EMFILE/ENFILE/ENOMEM pauses
    public long OtherSyscalls;         // synchronous calls outside io_uring_enter: setsockopt, shutdown, close, ...
    public long Wakeups;               // eventfd writes by other threads

    public long ActiveConnections => Volatile.Read(ref ConnectionsOpened) - Volatile.Read(ref ConnectionsClosed);

    /// <summary>Adds these totals into <paramref name="sum"/> (for totals of threads that have stopped).</summary>
    public void AddTo(RingThreadCounters sum)
    {
        sum.ConnectionsOpened += Volatile.Read(ref ConnectionsOpened);
        sum.ConnectionsClosed += Volatile.Read(ref ConnectionsClosed);
        sum.BytesReceived += Volatile.Read(ref BytesReceived);
        sum.BytesSent += Volatile.Read(ref BytesSent);
        sum.BufferRingExhausted += Volatile.Read(ref BufferRingExhausted);
        sum.AcceptPauses += Volatile.Read(ref AcceptPauses);
        sum.OtherSyscalls += Volatile.Read(ref OtherSyscalls);
        sum.Wakeups += Volatile.Read(ref Wakeups);
    }
}
