namespace RingCore.Transport;

/// <summary>
/// The transport's metrics, published through System.Diagnostics.Metrics (dotnet-counters, OpenTelemetry, a
/// MeterListener). Each host's transport has its own meter named <see cref="MeterName"/>, made by the host's
/// <c>IMeterFactory</c> (so a listener or exporter can tell hosts apart through <c>Meter.Scope</c>), and its
/// instruments observe only that host's ring threads. Names follow OpenTelemetry's semantic conventions:
/// <list type="bullet">
/// <item><c>ringcore.opened_connections</c>, <c>ringcore.closed_connections</c> (counters) and
///   <c>ringcore.active_connections</c> (up-down counter), unit <c>{connection}</c>;</item>
/// <item><c>ringcore.network.io</c>, bytes (<c>By</c>), with <c>network.io.direction</c> = <c>receive</c> or
///   <c>transmit</c>;</item>
/// <item><c>ringcore.io_uring.enters</c> (<c>{call}</c>), <c>ringcore.io_uring.submissions</c> (<c>{sqe}</c>),
///   <c>ringcore.io_uring.completions</c> (<c>{cqe}</c>), <c>ringcore.io_uring.cq_overflows</c>
///   (<c>{overflow}</c>), and the histogram <c>ringcore.io_uring.completions_per_enter</c> (<c>{cqe}</c>);</item>
/// <item><c>ringcore.buffer_ring.exhausted_receives</c> (<c>{receive}</c>: receives that found the provided-buffer
///   ring empty), <c>ringcore.accept.pauses</c> (<c>{pause}</c>), <c>ringcore.ring.wakeups</c> (<c>{wakeup}</c>),
///   <c>ringcore.syscalls</c> (<c>{syscall}</c>: every system call of the transport's hot paths);</item>
/// <item><c>ringcore.fallbacks</c> (<c>{fallback}</c>: io_uring was unavailable and Kestrel's Sockets transport
///   served instead).</item>
/// </list>
/// Every instrument but <c>ringcore.fallbacks</c> is reported per ring thread, with the tag
/// <c>ringcore.ring.index</c>; totals include ring threads that have stopped.
/// </summary>
public static class RingCoreMetrics
{
    /// <summary>The meter name: <c>dotnet-counters monitor --counters RingCore.Transport -p PID</c>.</summary>
    public const string MeterName = "RingCore.Transport";

    /// <summary>The instrument and tag names listed above.</summary>
    internal static class Names
    {
        public const string OpenedConnections = "ringcore.opened_connections";
        public const string ClosedConnections = "ringcore.closed_connections";
        public const string ActiveConnections = "ringcore.active_connections";
        public const string NetworkIo = "ringcore.network.io";
        public const string Enters = "ringcore.io_uring.enters";
        public const string Submissions = "ringcore.io_uring.submissions";
        public const string Completions = "ringcore.io_uring.completions";
        public const string CqOverflows = "ringcore.io_uring.cq_overflows";
        public const string CompletionsPerEnter = "ringcore.io_uring.completions_per_enter";
        public const string BufferRingExhausted = "ringcore.buffer_ring.exhausted_receives";
        public const string AcceptPauses = "ringcore.accept.pauses";
        public const string Wakeups = "ringcore.ring.wakeups";
        public const string Syscalls = "ringcore.syscalls";
        public const string Fallbacks = "ringcore.fallbacks";

        public const string RingIndexTag = "ringcore.ring.index";
        public const string DirectionTag = "network.io.direction";
    }
}
