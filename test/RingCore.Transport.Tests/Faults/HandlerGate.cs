namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// Holds a handler's thread until the test opens it: the handler calls <see cref="Hold"/> (it blocks) or
/// <see cref="ReportEntered"/> and then spins while <see cref="IsOpen"/> is false (it computes); either reports
/// whether it runs on a ring thread to the task <see cref="Close"/> returned. Resettable, so a test can hold the
/// next handler after letting one go (a cancelled token source could not be reset).
/// </summary>
internal sealed class HandlerGate : IDisposable
{
    private readonly ManualResetEventSlim _open = new();
    private TaskCompletionSource<bool> _entered = NewEntered();

    public bool IsOpen => _open.IsSet;

    /// <summary>Closes the gate for the next handler; the task completes when it enters, true on a ring thread.</summary>
    public Task<bool> Close()
    {
        _open.Reset();
        var entered = NewEntered();
        Volatile.Write(ref _entered, entered);
        return entered.Task;
    }

    public void Open() => _open.Set();

    /// <summary>Whether the calling thread is a ring thread.</summary>
    public static bool OnRingThread => Thread.CurrentThread.Name?.StartsWith("RingCore ring", StringComparison.Ordinal) == true;

    public void ReportEntered() => Volatile.Read(ref _entered).TrySetResult(OnRingThread);

    /// <summary>
    /// Reports the handler's entry, then blocks its thread until the gate opens (at most <paramref name="timeout"/>);
    /// false when it timed out.
    /// </summary>
    public bool Hold(TimeSpan timeout)
    {
        ReportEntered();
        return _open.Wait(timeout);
    }

    public void Dispose() => _open.Dispose();

    private static TaskCompletionSource<bool> NewEntered() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
