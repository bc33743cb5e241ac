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
}
