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

    /// <summary>CPU to pin the thread to, or null for no affinity.</summary>
    public int? Cpu { get; init; }
}
