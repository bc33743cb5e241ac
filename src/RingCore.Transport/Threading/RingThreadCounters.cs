namespace RingCore.Transport.Threading;

/// <summary>
/// Running totals of one ring. The thread that runs its loop writes them with plain increments (no lock, no
/// interlocked: the ring's one thread is their only writer); metrics read them from other threads, where a value a
/// moment old is fine. <see cref="Wakeups"/>, <see cref="DirectSends"/> and <see cref="DirectBytesSent"/> are
/// written by application threads, so they are interlocked.
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
    public long BatchedWaits;          // io_uring_enter waits bounded by CompletionBatchWait (see CompletionBatcher)
    public long Wakeups;               // eventfd writes by other threads
    public long DirectSends;           // send(2) calls made on the application's thread (see RingConnection.DirectSend.cs)
    public long DirectBytesSent;       // bytes those sent

    public long ActiveConnections => Volatile.Read(ref ConnectionsOpened) - Volatile.Read(ref ConnectionsClosed);
}
