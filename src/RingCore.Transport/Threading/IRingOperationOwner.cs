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
}
