namespace RingCore.Transport.Threading;

/// <summary>
/// Something with operations in flight on a ring thread (a connection, an acceptor). It registers with the
/// ring thread to get a token; every SQE it submits carries that token plus an operation kind in user_data,
/// so a completion finds its owner without allocating and a completion for a dead owner is dropped.
/// </summary>
internal interface IRingOperationOwner
{
    /// <summary>A completion for one of this owner's operations. Runs on the ring thread.</summary>
    void OnCompletion(byte operation, int result, uint flags);

    /// <summary>The ring thread is stopping: close everything; unregister when the last operation has completed.</summary>
    void OnRingStopping();

    /// <summary>
    /// An exception escaped one of this owner's handlers (or its posted work) on the ring thread. The owner ends
    /// itself (abort, close once its operations are done); the ring and every other owner carry on. Must not throw.
    /// </summary>
    void OnFault(Exception exception);

    /// <summary>
    /// The ring is dead (the kernel refused io_uring_enter): no completion will ever arrive. The owner releases
    /// what the kernel cannot touch (completes pipes, signals waiters, closes its sockets) and leaves memory the
    /// kernel may still use alone. Runs on the ring thread as its last act. Must not throw.
    /// </summary>
    void OnRingFailed(Exception exception);

    /// <summary>
    /// One line on what the owner still waits for, for a stop that timed out. Called from another thread while the
    /// ring may be running: it reads plain fields without synchronisation, so it may be a moment out of date.
    /// </summary>
    string DescribeForDiagnostics();
}

/// <summary>
/// A receiver whose receive ended because the provided-buffer ring was empty (ENOBUFS). It waits in its ring's
/// starvation queue and is resumed, in arrival order, once buffers are back.
/// </summary>
internal interface IStarvedReceiver
{
    /// <summary>Re-arms the receive (ring thread). Must not throw.</summary>
    void ResumeReceive();
}
