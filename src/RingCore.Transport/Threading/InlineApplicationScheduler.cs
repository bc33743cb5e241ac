using System.IO.Pipelines;

namespace RingCore.Transport.Threading;

/// <summary>
/// Runs application continuations inline on the ring thread (the UnsafeInline scheduling opt-in), and marks the
/// time they take as application code, so the stall watchdog can say whether a stalled ring is held by the
/// application or by the transport itself.
/// </summary>
internal sealed class InlineApplicationScheduler(RingThread ring) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state)
    {
        if (!ring.IsCurrentThread)
        {
            action(state); // not on the ring (e.g. the first request, dispatched by Kestrel to the thread pool)
            return;
        }
        ring.EnterApplicationCode();
        try
        {
            action(state);
        }
        finally
        {
            ring.ExitApplicationCode();
        }
    }
}
