using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

/// <summary>What one ring thread is built with (derived from <see cref="RingCoreTransportOptions"/>).</summary>
internal sealed record RingThreadSettings
{
    public required int Index { get; init; }

    public required RingSetupOptions Ring { get; init; }

    public int BufferRingEntries { get; init; } = 256;

    public int BufferSize { get; init; } = 16 * 1024;

    /// <summary>Ask for incremental buffer consumption (IOU_PBUF_RING_INC, Linux 6.12), falling back without it.</summary>
    public bool IncrementalBuffers { get; init; } = true;

    /// <summary>Faults injected by tests; null in production.</summary>
    public RingTestHooks? TestHooks { get; init; }

    /// <summary>Longest wait for a batch of completions under load, in nanoseconds; 0 turns batching off.</summary>
    public long CompletionBatchWaitNanoseconds { get; init; }

    /// <summary>The metrics of the factory that started the thread; null for rings used alone (ring tests).</summary>
    public TransportMetrics? Metrics { get; init; }

    /// <summary>
    /// Application code runs on the loop thread (Inline scheduling) and a loop thread held by it is replaced by
    /// another (see RingThread.Takeover.cs): the ring itself moves to that thread, or, on a SINGLE_ISSUER ring (tied
    /// to the thread that set it up), its owners move to that thread's own ring (RingThread.OwnerMove.cs).
    /// </summary>
    public bool TakeOverWhenHeld { get; init; }

    /// <summary>With <see cref="TakeOverWhenHeld"/>: see RingCoreTransportOptions.MaxHeldThreadsPerRing.</summary>
    public int MaxHeldThreads { get; init; } = 64;

    /// <summary>CPU to pin the thread to, or null for no affinity.</summary>
    public int? Cpu { get; init; }
}
