using System.IO.Pipelines;

namespace RingCore.Transport.Threading;

/// <summary>
/// The input pipe's reader scheduler with inline scheduling (Inline and UnsafeInline): application code resumed by
/// the ring runs on the ring's loop thread, between loop turns, where the stall watchdog and the takeover monitor
/// see it (<see cref="RingThread.ScheduleApplicationWork"/>).
/// </summary>
internal sealed class InlineApplicationScheduler(RingThread ring) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state) => ring.ScheduleApplicationWork(action, state);
}
