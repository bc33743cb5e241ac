namespace RingCore.Transport.Threading;

/// <summary>
/// One ring thread's running totals at one moment, read from another thread for metrics (a value a moment old is
/// fine: each field has a single writer and only grows). Samples add up, so a stopped thread's last sample can be
/// kept and added to its successor's.
/// </summary>
internal readonly record struct RingSample(
    long ConnectionsOpened, long ConnectionsClosed, long BytesReceived, long BytesSent,
    long BufferRingExhausted, long AcceptPauses, long Wakeups, long OtherSyscalls,
    long Enters, long Submitted, long Completed, long CqOverflows)
{
    /// <summary>
    /// Every system call on the transport's hot paths: io_uring_enter, eventfd wake-ups, per-connection calls and
    /// sends made directly on application threads.
    /// </summary>
    public long Syscalls => Enters + Wakeups + OtherSyscalls;

    /// <summary>Reads <paramref name="thread"/>'s totals (its ring's counters stay readable after it is disposed).</summary>
    public static RingSample Of(RingThread thread)
    {
        RingThreadCounters c = thread.Counters;
        Ring.IoUring ring = thread.Ring;
        return new RingSample(
            Volatile.Read(ref c.ConnectionsOpened), Volatile.Read(ref c.ConnectionsClosed),
            Volatile.Read(ref c.BytesReceived), Volatile.Read(ref c.BytesSent) + Volatile.Read(ref c.DirectBytesSent),
            Volatile.Read(ref c.BufferRingExhausted), Volatile.Read(ref c.AcceptPauses),
            Volatile.Read(ref c.Wakeups), Volatile.Read(ref c.OtherSyscalls) + Volatile.Read(ref c.DirectSends),
            ring.EnterCount, ring.SubmittedCount, ring.CompletedCount, ring.OverflowCount);
    }

    public static RingSample operator +(RingSample a, RingSample b) => new(
        a.ConnectionsOpened + b.ConnectionsOpened, a.ConnectionsClosed + b.ConnectionsClosed,
        a.BytesReceived + b.BytesReceived, a.BytesSent + b.BytesSent,
        a.BufferRingExhausted + b.BufferRingExhausted, a.AcceptPauses + b.AcceptPauses,
        a.Wakeups + b.Wakeups, a.OtherSyscalls + b.OtherSyscalls,
        a.Enters + b.Enters, a.Submitted + b.Submitted, a.Completed + b.Completed, a.CqOverflows + b.CqOverflows);
}
