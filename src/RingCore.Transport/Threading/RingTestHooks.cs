namespace RingCore.Transport.Threading;

/// <summary>
/// Faults that tests inject into a running ring thread (set through the internal
/// <see cref="RingCoreTransportOptions.TestHooks"/>). Never set in production: null there.
/// </summary>
internal sealed class RingTestHooks
{
    /// <summary>When non-zero, the next io_uring_enter of ring <see cref="FailEnterOnRing"/> fails with this errno.</summary>
    public volatile int FailEnterWithErrno;

    /// <summary>Index of the ring whose enter <see cref="FailEnterWithErrno"/> fails.</summary>
    public volatile int FailEnterOnRing;

    /// <summary>
    /// Runs on the takeover monitor's thread when it has decided to hand ring <c>N</c>'s loop over, just before the
    /// compare-and-swap that does it (in production, starting a thread for the takeover can take as long).
    /// </summary>
    public Action<int>? BeforeHandOver;

    /// <summary>Runs on the ring thread before each item of posted work, with the item's state; may throw.</summary>
    public Action<object?>? BeforePostedWork;

    /// <summary>
    /// Multishot recvs are armed with IORING_RECVSEND_POLL_FIRST, which makes the kernel lose the reset after a
    /// partial request on a few percent of connections instead of ~2.5 in 10^4: the peer-end poll must catch them all.
    /// </summary>
    public bool MultishotReceivePollFirst;
}
