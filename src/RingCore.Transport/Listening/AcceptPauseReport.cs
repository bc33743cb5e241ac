namespace RingCore.Transport.Listening;

/// <summary>
/// The accept-pause warning of one listener, shared by its acceptors (one per ring): one warning per streak of
/// failures for the whole endpoint, however many rings and retries the streak spans; a successful accept on any
/// ring ends the streak. Thread-safe: the acceptors run on different ring threads.
/// </summary>
internal sealed class AcceptPauseReport
{
    private int _reported;

    /// <summary>True for the first caller of a streak: that one logs the warning.</summary>
    public bool TryStartStreak() => Interlocked.Exchange(ref _reported, 1) == 0;

    /// <summary>A connection was accepted: the next failure starts a new streak.</summary>
    public void EndStreak()
    {
        if (Volatile.Read(ref _reported) != 0)
        {
            Volatile.Write(ref _reported, 0);
        }
    }
}
