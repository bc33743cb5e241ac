namespace RingCore.Transport;

/// <summary>Options of the RingCore io_uring transport. Every property says its default.</summary>
public sealed class RingCoreTransportOptions
{
    /// <summary>
    /// Number of ring threads, each with its own io_uring. Default: null, which picks by where application code
    /// runs. With <see cref="RingCoreApplicationScheduling.ThreadPool"/> (the default) a ring thread only moves bytes
    /// and the thread pool runs the application, so there is one ring per 2 cores, at least one: more ring threads
    /// would only compete with the pool's workers for the cores (as .NET's own socket engine keeps one epoll thread
    /// for many cores when completions go to the thread pool). With
    /// <see cref="RingCoreApplicationScheduling.UnsafeInline"/> the rings run the application: one per core (unless
    /// Kestrel's AllowSynchronousIO makes the transport run it on the thread pool after all: then as for ThreadPool).
    /// </summary>
    public int? RingThreadCount { get; set; }

    /// <summary>
    /// Cores one ring thread serves when <see cref="RingThreadCount"/> is left to pick and application code runs on
    /// the thread pool. A ring thread carries up to half of a small request's CPU time (its io_uring_enter does the
    /// kernel's work of every send and receive), so one ring keeps up with about two cores' worth of requests
    /// (docs/design.md, "How many rings").
    /// </summary>
    internal const int CoresPerRing = 2;

    internal static int DefaultRingThreadCount(RingCoreApplicationScheduling scheduling, int processorCount) =>
        scheduling == RingCoreApplicationScheduling.UnsafeInline
            ? processorCount
            : Math.Max(1, (processorCount + CoresPerRing - 1) / CoresPerRing);

    /// <summary>Submission queue entries per ring (a power of two, at most 32768). Default: 1024.</summary>
    public int SubmissionQueueSize { get; set; } = 1024;

    /// <summary>
    /// Completion queue entries per ring; larger than the submission queue because one multishot SQE produces
    /// many CQEs. Default: 0, meaning four times <see cref="SubmissionQueueSize"/>.
    /// </summary>
    public int CompletionQueueSize { get; set; }

    /// <summary>
    /// Receive buffers per ring thread in its provided-buffer ring (a power of two, at most 32768). Default: 256.
    /// Kernels with incremental buffer consumption (Linux 6.12) fill each buffer with many receives, so 256 × 16 KiB
    /// absorbs a burst of thousands of small requests; on older kernels each receive takes a whole buffer and
    /// receivers that find the ring empty wait their turn (see docs/design.md).
    /// </summary>
    public int BufferRingSize { get; set; } = 256;

    /// <summary>Size in bytes of each receive buffer. Default: 16384.</summary>
    public int BufferSize { get; set; } = 16 * 1024;

    /// <summary>
    /// Listen backlog of each listening socket: how many connections the kernel completes and queues for it before
    /// the application accepts them. Default: 512 (as Kestrel's Sockets transport).
    /// A TCP endpoint has one SO_REUSEPORT socket per ring thread, and each gets this full value, so up to
    /// ring threads × Backlog connections can wait in all. It is not divided because the kernel
    /// spreads new connections over those sockets by a hash of their addresses, not by free room: a burst lands
    /// unevenly, and a share of the backlog would overflow on one socket while others are empty. A backlog is a
    /// limit, not memory reserved up front. The kernel caps each socket's value at net.core.somaxconn (4096 by
    /// default since Linux 5.4). Unix sockets and adopted file handles have a single socket with this backlog.
    /// </summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// Sets TCP_NODELAY on accepted TCP connections (and outbound ones). Default: true. The transport's own listening
    /// sockets carry it, so accepted connections inherit it without a system call each; connections of an adopted
    /// listening socket without it get it set one by one, and that socket is left as it was.
    /// </summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// Bytes the transport buffers from the network before it stops receiving until the application reads
    /// (it resumes at half). Null means unbounded. Default: 1 MiB, as Kestrel.
    /// </summary>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes the application may write ahead of the network before its writes wait. Null means unbounded.
    /// Default: 64 KiB, as Kestrel.
    /// </summary>
    public long? MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Where the application's code runs when data arrives. Default: <see cref="RingCoreApplicationScheduling.ThreadPool"/>:
    /// on the .NET thread pool, as with Kestrel's Sockets transport, so a handler that blocks (sync-over-async, a
    /// synchronous database driver, Thread.Sleep, long CPU work), briefly or for long, costs its own request and a
    /// thread, never a ring. <see cref="RingCoreApplicationScheduling.UnsafeInline"/> runs handlers on the ring
    /// thread, with no thread hop, and is only for applications known never to block: a handler that blocks stalls
    /// every connection of its ring. When Kestrel's AllowSynchronousIO is on for the whole server, the transport uses
    /// ThreadPool whatever this says: a synchronous body read on the ring thread would wait forever for the thread
    /// it holds.
    /// </summary>
    public RingCoreApplicationScheduling ApplicationScheduling { get; set; } = RingCoreApplicationScheduling.ThreadPool;

    /// <summary>
    /// Longest a ring thread waits to gather a batch of completions into one io_uring_enter under load. A ring
    /// batches only while completions arrive quickly (at least 4 per wait); it then waits for as many as its last
    /// wait found (never more than the ring's open connections), or this long, whichever comes first, so many
    /// requests share one system call. Under light load it waits for a single completion with no timeout, so a lone
    /// request never waits for company. Trades up to this much added latency under load for fewer system calls;
    /// <see cref="TimeSpan.Zero"/> turns batching off. Default: 500 µs. At most 10 ms.
    /// Only rings with DEFER_TASKRUN batch (Linux 6.1 or later). Rings without it are woken by every completion
    /// while they wait, so a batched wait would only hold finished requests back; they ignore this setting.
    /// </summary>
    public TimeSpan CompletionBatchWait { get; set; } = TimeSpan.FromMicroseconds(500);

    /// <summary>Pins ring thread i to CPU i (modulo the CPU count). Default: false.</summary>
    public bool PinRingThreadsToCores { get; set; }

    /// <summary>
    /// What to do when io_uring cannot be used (seccomp, sysctl, old kernel).
    /// Default: <see cref="RingCoreUnavailableBehavior.FallBackToSockets"/>.
    /// </summary>
    public RingCoreUnavailableBehavior WhenUnavailable { get; set; } = RingCoreUnavailableBehavior.FallBackToSockets;

    /// <summary>
    /// Ask for IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (Linux 6.1). Tests turn it off to run the setup
    /// of kernels before 6.0 (COOP_TASKRUN only); applications have no reason to. Default: true.
    /// </summary>
    internal bool UseSingleIssuer { get; set; } = true;

    /// <summary>
    /// Register each ring's fd with itself (IORING_REGISTER_RING_FDS, Linux 5.18); tests turn it off to run the
    /// path of kernels without it. Default: true.
    /// </summary>
    internal bool RegisterRingFd { get; set; } = true;

    /// <summary>Ask for incremental buffer consumption (IOU_PBUF_RING_INC, Linux 6.12); tests turn it off. Default: true.</summary>
    internal bool IncrementalBuffers { get; set; } = true;

    /// <summary>Faults injected by tests; null in production.</summary>
    internal Threading.RingTestHooks? TestHooks { get; set; }

    internal void Validate()
    {
        static void Check(bool ok, string name, object value, string rule)
        {
            if (!ok)
            {
                throw new ArgumentOutOfRangeException(name, value, $"RingCoreTransportOptions.{name} {rule}.");
            }
        }
        static bool IsPowerOfTwo(int v) => v > 0 && (v & (v - 1)) == 0;

        Check(RingThreadCount is null or (>= 1 and <= 1024), nameof(RingThreadCount), RingThreadCount!, "must be null or between 1 and 1024");
        Check(IsPowerOfTwo(SubmissionQueueSize) && SubmissionQueueSize <= 32768, nameof(SubmissionQueueSize), SubmissionQueueSize, "must be a power of two up to 32768");
        Check(CompletionQueueSize == 0 || (IsPowerOfTwo(CompletionQueueSize) && CompletionQueueSize >= SubmissionQueueSize), nameof(CompletionQueueSize), CompletionQueueSize, "must be 0 or a power of two no smaller than SubmissionQueueSize");
        Check(IsPowerOfTwo(BufferRingSize) && BufferRingSize <= 32768, nameof(BufferRingSize), BufferRingSize, "must be a power of two up to 32768");
        Check(BufferSize is >= 512 and <= 1024 * 1024, nameof(BufferSize), BufferSize, "must be between 512 and 1048576");
        Check(Backlog >= 1, nameof(Backlog), Backlog, "must be at least 1");
        Check(MaxReadBufferSize is null or >= 0, nameof(MaxReadBufferSize), MaxReadBufferSize!, "must be null or non-negative");
        Check(MaxWriteBufferSize is null or >= 0, nameof(MaxWriteBufferSize), MaxWriteBufferSize!, "must be null or non-negative");
        Check(CompletionBatchWait >= TimeSpan.Zero && CompletionBatchWait <= TimeSpan.FromMilliseconds(10), nameof(CompletionBatchWait), CompletionBatchWait, "must be between zero and 10 ms");
    }
}

/// <summary>Where application code (Kestrel's request processing) runs.</summary>
public enum RingCoreApplicationScheduling
{
    /// <summary>
    /// On the .NET thread pool, as with Kestrel's Sockets transport: a handler that blocks its thread holds only its
    /// own request, and every other connection keeps being served. The default.
    /// </summary>
    ThreadPool,

    /// <summary>
    /// Directly on the ring thread that received the data, until the handler's first await that does not complete
    /// at once: no thread hop per request. Unsafe, as Kestrel's UnsafePreferInlineScheduling: application code that
    /// blocks the thread (a synchronous wait on a task, a synchronous driver, Thread.Sleep, long CPU work without
    /// an await) stalls every connection of that ring for as long, and a synchronous wait for the request body
    /// never ends, since the ring thread that would deliver it is the one waiting. The transport logs a warning
    /// (event 11) when a ring thread is held by application code for more than a second. Only for applications
    /// known never to block.
    /// </summary>
    UnsafeInline,

    /// <summary>
    /// Obsolete: behaves as <see cref="ThreadPool"/>, and the transport says so once in its log (event 17). It ran
    /// handlers on the ring thread and moved the ring to another thread when one blocked; short blocking (a
    /// millisecond-long synchronous query) still stalled every connection of the ring, so the thread pool is the
    /// default now and <see cref="UnsafeInline"/> the opt-in for applications that never block.
    /// </summary>
    [Obsolete("Inline now behaves as ThreadPool, the default: remove the setting, or use UnsafeInline for an application that never blocks.")]
    Inline,
}

/// <summary>What happens when io_uring is unavailable.</summary>
public enum RingCoreUnavailableBehavior
{
    /// <summary>Log one warning with the reason and serve with Kestrel's Sockets transport.</summary>
    FallBackToSockets,

    /// <summary>Fail startup with a <see cref="RingUnavailableException"/>.</summary>
    Throw,
}
