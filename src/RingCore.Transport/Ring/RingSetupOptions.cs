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
    /// SINGLE_ISSUER only together with DEFER_TASKRUN (Linux 6.1), never alone (6.0): a ring whose held thread may be
    /// replaced either moves its owners to another ring, which needs a held ring to make no progress (DEFER_TASKRUN),
    /// or moves to another thread itself, which SINGLE_ISSUER forbids.
    /// </summary>
    public bool SingleIssuerOnlyWithDeferTaskrun { get; init; }

    /// <summary>
    /// Register the ring fd (IORING_REGISTER_RING_FDS) so io_uring_enter skips the fd lookup; only done when the
    /// ring got SINGLE_ISSUER (the registration belongs to the creating thread).
    /// </summary>
    public bool RegisterRingFd { get; init; } = true;
}
