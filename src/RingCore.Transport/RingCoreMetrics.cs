using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using RingCore.Transport.Threading;

namespace RingCore.Transport;

/// <summary>
/// The transport's metrics, published through System.Diagnostics.Metrics (readable with dotnet-counters,
/// OpenTelemetry or a MeterListener). Instruments: ringcore.connections.opened/closed/active,
/// ringcore.bytes.received/sent, ringcore.io_uring.enters/sqes_submitted/cqes_reaped/cq_overflows,
/// ringcore.io_uring.cqes_per_enter (histogram), ringcore.buffer_ring.exhausted, ringcore.accept.pauses,
/// ringcore.wakeups, ringcore.syscalls and ringcore.fallbacks. Totals cover every ring thread of the process,
/// including ones that have stopped.
/// </summary>
public static class RingCoreMetrics
{
    /// <summary>The meter name: <c>dotnet-counters monitor --counters RingCore.Transport -p PID</c>.</summary>
    public const string MeterName = "RingCore.Transport";

    private static readonly Meter Meter = new(MeterName);
    private static readonly ConcurrentDictionary<RingThread, byte> LiveThreads = new();
    private static readonly Lock RetiredLock = new();
    private static readonly RingThreadCounters Retired = new();
    private static long _retiredEnters, _retiredSubmitted, _retiredReaped, _retiredOverflows;
    private static long _fallbacks;

    internal static readonly Histogram<int> CqesPerEnter = Meter.CreateHistogram<int>(
        "ringcore.io_uring.cqes_per_enter", "{completion}", "Completions reaped after each io_uring_enter.");

    static RingCoreMetrics()
    {
        Meter.CreateObservableCounter("ringcore.connections.opened", () => Sum(c => c.ConnectionsOpened), "{connection}", "Connections accepted.");
        Meter.CreateObservableCounter("ringcore.connections.closed", () => Sum(c => c.ConnectionsClosed), "{connection}", "Connections closed.");
        Meter.CreateObservableUpDownCounter("ringcore.connections.active", () => Sum(c => c.ConnectionsOpened) - Sum(c => c.ConnectionsClosed), "{connection}", "Connections open now.");
        Meter.CreateObservableCounter("ringcore.bytes.received", () => Sum(c => c.BytesReceived), "By", "Bytes received from clients.");
        Meter.CreateObservableCounter("ringcore.bytes.sent", () => Sum(c => c.BytesSent), "By", "Bytes sent to clients.");
        Meter.CreateObservableCounter("ringcore.io_uring.enters", () => Snapshot().Enters, "{call}", "io_uring_enter system calls.");
        Meter.CreateObservableCounter("ringcore.io_uring.sqes_submitted", () => Snapshot().SqesSubmitted, "{sqe}", "Submission queue entries consumed by the kernel.");
        Meter.CreateObservableCounter("ringcore.io_uring.cqes_reaped", () => Snapshot().CqesReaped, "{cqe}", "Completion queue entries reaped.");
        Meter.CreateObservableCounter("ringcore.io_uring.cq_overflows", () => Snapshot().CqOverflows, "{event}", "Times the kernel parked completions in its overflow list.");
        Meter.CreateObservableCounter("ringcore.buffer_ring.exhausted", () => Sum(c => c.BufferRingExhausted), "{event}", "Receives that found the provided-buffer ring empty (ENOBUFS).");
        Meter.CreateObservableCounter("ringcore.accept.pauses", () => Sum(c => c.AcceptPauses), "{event}", "Accept pauses for lack of file descriptors or memory.");
        Meter.CreateObservableCounter("ringcore.wakeups", () => Sum(c => c.Wakeups), "{call}", "eventfd writes that woke a sleeping ring thread.");
        Meter.CreateObservableCounter("ringcore.syscalls", () => Snapshot().Syscalls, "{call}", "Every system call the transport made on its hot paths: io_uring_enter, wake-ups and per-connection calls.");
        Meter.CreateObservableCounter("ringcore.fallbacks", () => Volatile.Read(ref _fallbacks), "{event}", "Times io_uring was unavailable and Kestrel's Sockets transport was used.");
    }

    internal static void Track(RingThread thread) => LiveThreads.TryAdd(thread, 0);

    internal static void Retire(RingThread thread)
    {
        lock (RetiredLock)
        {
            if (LiveThreads.TryRemove(thread, out _))
            {
                thread.Counters.AddTo(Retired);
                _retiredEnters += thread.Ring.EnterCount;
                _retiredSubmitted += thread.Ring.SubmittedCount;
                _retiredReaped += thread.Ring.CompletedCount;
                _retiredOverflows += thread.Ring.OverflowCount;
            }
        }
    }

    internal static void OnFallback() => Interlocked.Increment(ref _fallbacks);

    private static long Sum(Func<RingThreadCounters, long> field)
    {
        lock (RetiredLock)
        {
            long total = field(Retired);
            foreach (RingThread thread in LiveThreads.Keys)
            {
                total += field(thread.Counters);
            }
            return total;
        }
    }

    internal readonly record struct Totals(long Enters, long SqesSubmitted, long CqesReaped, long CqOverflows, long Syscalls);

    internal static Totals Snapshot()
    {
        lock (RetiredLock)
        {
            long enters = _retiredEnters, submitted = _retiredSubmitted, reaped = _retiredReaped, overflows = _retiredOverflows;
            long other = Retired.OtherSyscalls + Retired.Wakeups;
            foreach (RingThread thread in LiveThreads.Keys)
            {
                enters += thread.Ring.EnterCount;
                submitted += thread.Ring.SubmittedCount;
                reaped += thread.Ring.CompletedCount;
                overflows += thread.Ring.OverflowCount;
                other += Volatile.Read(ref thread.Counters.OtherSyscalls) + Volatile.Read(ref thread.Counters.Wakeups);
            }
            return new Totals(enters, submitted, reaped, overflows, enters + other);
        }
    }
}
