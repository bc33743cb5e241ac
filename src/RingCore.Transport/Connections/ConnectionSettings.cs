using System.Buffers;
using System.IO.Pipelines;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

/// <summary>What every connection of one kind (accepted, or outbound) shares: memory, pipe shapes, scheduling and logging.</summary>
internal sealed class ConnectionSettings
{
    public ConnectionSettings(RingCoreTransportOptions options, RingCoreApplicationScheduling scheduling, MemoryPool<byte> memoryPool, RingCoreLog log,
        bool finOnError, bool halfCloseOnOutputEnd)
    {
        HalfCloseOnOutputEnd = halfCloseOnOutputEnd;
        MemoryPool = memoryPool;
        Log = log;
        FinOnError = finOnError;
        NoDelay = options.NoDelay;
        InlineApplicationCode = scheduling == RingCoreApplicationScheduling.UnsafeInline;
        MaxReadBufferSize = options.MaxReadBufferSize ?? 0;
        MaxWriteBufferSize = options.MaxWriteBufferSize ?? 0;
        MinimumSegmentSize = Math.Min(4096, memoryPool.MaxBufferSize > 0 ? memoryPool.MaxBufferSize : 4096);
        MultishotReceivePollFirst = options.TestHooks?.MultishotReceivePollFirst ?? false;
    }

    public MemoryPool<byte> MemoryPool { get; }

    public RingCoreLog Log { get; }

    public bool NoDelay { get; }

    /// <summary>
    /// Close with FIN even when aborted with a reason or after a send error (Kestrel's FinOnError switch, see
    /// <see cref="FinOnErrorSwitch"/>); otherwise those close with RST, as Kestrel's Sockets transport does.
    /// </summary>
    public bool FinOnError { get; }

    /// <summary>
    /// When the application completes its output, send FIN but go on receiving until the peer ends too, or the
    /// connection is disposed or aborted (outbound connections, as a Socket's Shutdown(Send)). Accepted connections
    /// close both directions, as Kestrel's Sockets transport does.
    /// </summary>
    public bool HalfCloseOnOutputEnd { get; }

    /// <summary>Application code runs on the ring thread (UnsafeInline) instead of the thread pool.</summary>
    public bool InlineApplicationCode { get; }

    private PipeScheduler ApplicationScheduler(RingThread ring) => InlineApplicationCode ? ring.ApplicationScheduler : PipeScheduler.ThreadPool;

    public long MaxReadBufferSize { get; }

    public long MaxWriteBufferSize { get; }

    public int MinimumSegmentSize { get; }

    /// <summary>Tests only (<see cref="RingTestHooks.MultishotReceivePollFirst"/>).</summary>
    public bool MultishotReceivePollFirst { get; }

    private long _activeConnections;

    /// <summary>
    /// Connections of this factory whose socket is open (created and not yet fully closed): what a stop or a test
    /// checks to know that nothing is left behind.
    /// </summary>
    public long ActiveConnections => Volatile.Read(ref _activeConnections);

    public void OnConnectionOpened() => Interlocked.Increment(ref _activeConnections);

    public void OnConnectionClosed() => Interlocked.Decrement(ref _activeConnections);

    /// <summary>Network → application. The ring thread writes and is told on it when a paused flush resumes.</summary>
    public PipeOptions InputOptions(RingThread ringThread) => new(
        MemoryPool, readerScheduler: ApplicationScheduler(ringThread), writerScheduler: ringThread,
        pauseWriterThreshold: MaxReadBufferSize, resumeWriterThreshold: MaxReadBufferSize / 2,
        minimumSegmentSize: MinimumSegmentSize, useSynchronizationContext: false);

    /// <summary>
    /// Application → network. The output read completes on the thread that flushed it (inline): on the ring thread
    /// it becomes an io_uring send; on an application thread a response that fits one send goes out right there
    /// (RingConnection.DirectSend.cs) and anything else is handed to the ring.
    /// </summary>
    public PipeOptions OutputOptions(RingThread ringThread) => new(
        MemoryPool, readerScheduler: PipeScheduler.Inline, writerScheduler: ApplicationScheduler(ringThread),
        pauseWriterThreshold: MaxWriteBufferSize, resumeWriterThreshold: MaxWriteBufferSize / 2,
        minimumSegmentSize: MinimumSegmentSize, useSynchronizationContext: false);
}
