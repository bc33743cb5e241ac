namespace RingCore.BenchmarkRunner.Model;

/// <summary>One measured run: one scenario, one transport, one round, one fresh server process. Null = not measured.</summary>
public sealed record RunMetrics
{
    public required string Scenario { get; init; }
    public required string Transport { get; init; }
    public required int Round { get; init; }

    public long Requests { get; init; }
    public double? RequestsPerSecond { get; init; }

    /// <summary>What the client read per second (wrk's Transfer/sec, bombardier's Throughput).</summary>
    public double? TransferBytesPerSecond { get; init; }

    /// <summary>Payload bytes per second, for byte scenarios (downloads: bytes read; uploads: bodies sent).</summary>
    public double? PayloadBytesPerSecond { get; init; }

    public double? P50Us { get; init; }
    public double? P99Us { get; init; }
    public double? CpuSecondsPer100kRequests { get; init; }
    public long? PeakRssBytes { get; init; }
    public double? SyscallsPerRequest { get; init; }

    /// <summary>The server's context switches (all threads, voluntary and not) per request during the run.</summary>
    public double? ContextSwitchesPerRequest { get; init; }

    /// <summary>Socket errors, timeouts and non-2xx/3xx answers the client counted.</summary>
    public long Errors { get; init; }

    // Blocking workloads.
    /// <summary>The neighbour load's requests/s (blocking-neighbours: the 4 connections on /sleep).</summary>
    public double? NeighbourRequestsPerSecond { get; init; }

    /// <summary>Bytes of answers that differed from what the server should have sent (mixed-blocking; must be 0).</summary>
    public long? WrongBytes { get; init; }

    /// <summary>Completed requests by kind, for the mixed workload ("sleep 1,234, echo-sync 567, …").</summary>
    public string? Mix { get; init; }

    // Idle-connections scenario.
    public int? IdleConnectionsOpened { get; init; }
    public int? IdleConnectionsTarget { get; init; }
    public long? RssBeforeBytes { get; init; }
    public long? RssAfterBytes { get; init; }
    public double? IdleCpuPercent { get; init; }

    // The machine around the run (QuietGate): before it, and during its measured window.
    public double? LoadAverageBefore { get; init; }
    public double? BusyBeforePercent { get; init; }
    public double? StealPercent { get; init; }

    /// <summary>The machine was not quiet before this run, even after waiting: its numbers are not valid.</summary>
    public bool Noisy { get; init; }

    /// <summary>Set when the run failed or something about it needs saying (e.g. RingCore fell back to Sockets).</summary>
    public string? Note { get; init; }

    public bool Failed { get; init; }

    public double? RssBytesPerConnection =>
        RssBeforeBytes is long before && RssAfterBytes is long after && IdleConnectionsOpened is > 0
            ? (double)(after - before) / IdleConnectionsOpened.Value
            : null;
}

/// <summary>The strace -c cross-check of one transport.</summary>
public sealed record StraceCheck
{
    public required string Transport { get; init; }
    public long Requests { get; init; }
    public long TotalSyscalls { get; init; }
    public IReadOnlyList<(string Name, long Calls)> TopSyscalls { get; init; } = [];
    public string? Error { get; init; }

    public double? SyscallsPerRequest => Error is null && Requests > 0 ? (double)TotalSyscalls / Requests : null;
}
