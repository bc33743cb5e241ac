namespace RingCore.Transport.Ring;

/// <summary>What a ring is asked for. Features can be turned off to run the older code paths.</summary>
internal sealed record RingSetupOptions
{
    /// <summary>Submission queue entries (rounded up to a power of two by the kernel).</summary>
    public uint SqEntries { get; init; } = 256;

    /// <summary>Completion queue entries; 0 means 4 × <see cref="SqEntries"/>.</summary>
    public uint CqEntries { get; init; }

    /// <summary>Ask for IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN.</summary>
    public bool SingleIssuer { get; init; } = true;

    /// <summary>
    /// Register the ring fd (IORING_REGISTER_RING_FDS, Linux 5.18) so io_uring_enter skips the fd lookup (the
    /// registration belongs to the creating thread, the only one that enters the ring).
    /// </summary>
    public bool RegisterRingFd { get; init; } = true;
}
