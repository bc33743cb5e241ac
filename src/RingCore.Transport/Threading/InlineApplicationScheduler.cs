using System.IO.Pipelines;

namespace RingCore.Transport.Threading;

/// <summary>
/// The input pipe's reader scheduler and the output pipe's writer scheduler with UnsafeInline scheduling: application
/// code resumed by the ring runs on the ring's thread, between loop turns, where the stall watchdog sees it
/// (<see cref="RingThread.ScheduleApplicationWork"/>).
/// </summary>
internal sealed class InlineApplicationScheduler(RingThread ring) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state) => ring.ScheduleApplicationWork(action, state);
}
