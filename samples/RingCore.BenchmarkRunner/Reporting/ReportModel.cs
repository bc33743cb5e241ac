using RingCore.BenchmarkRunner.Model;

namespace RingCore.BenchmarkRunner.Reporting;

/// <summary>Medians over the rounds of one scenario and one transport, and ratios against the baseline transport.</summary>
public sealed record SummaryRow
{
    public required Scenario Scenario { get; init; }
    public required string Transport { get; init; }
    public required bool IsBaseline { get; init; }
    public int Runs { get; init; }
    public int FailedRuns { get; init; }

    /// <summary>Requests/s for request scenarios, payload bytes/s for byte scenarios.</summary>
    public double? Primary { get; init; }
    public double? PrimaryRatio { get; init; }
    public double? RequestsPerSecond { get; init; }
    public double? TransferBytesPerSecond { get; init; }
    public double? P50Us { get; init; }
    public double? P99Us { get; init; }
    public double? P99Ratio { get; init; }
    public double? CpuSecondsPer100kRequests { get; init; }
    public double? PeakRssBytes { get; init; }
    public double? SyscallsPerRequest { get; init; }
    public double? ContextSwitchesPerRequest { get; init; }
    public long ErrorsAllRounds { get; init; }

    // Blocking workloads.
    public double? NeighbourRequestsPerSecond { get; init; }

    /// <summary>Summed over the runs; null when no run checked bytes (only the mixed client does).</summary>
    public long? WrongBytesAllRounds { get; init; }

    /// <summary>The first successful run's completed requests by kind (the mix is the same in every run: a fixed seed).</summary>
    public string? Mix { get; init; }

    // Idle connections.
    public double? IdleConnectionsOpened { get; init; }
    public double? RssBeforeBytes { get; init; }
    public double? RssAfterBytes { get; init; }
    public double? RssBytesPerConnection { get; init; }
    public double? RssBytesPerConnectionRatio { get; init; }
    public double? IdleCpuPercent { get; init; }
}

public sealed record MachineInfo
{
    public int Cores { get; init; }
    public string CpuModel { get; init; } = "unknown";
    public string Memory { get; init; } = "unknown";
    public string Kernel { get; init; } = "unknown";
    public string OsVersion { get; init; } = "unknown";
    public string DotNet { get; init; } = "unknown";
    public string Wrk { get; init; } = "not found";
    public string Strace { get; init; } = "not found";
    public string Bombardier { get; init; } = "not found";
    public string IoUringDisabled { get; init; } = "unknown";
    public string LoadAverageAtStart { get; init; } = "unknown";
    public string LoadAverageAtEnd { get; init; } = "unknown";
    public string OpenFilesLimit { get; init; } = "unknown";
}

public sealed record ReportContext
{
    public required MachineInfo Machine { get; init; }
    public required DateTimeOffset Started { get; init; }
    public DateTimeOffset? Finished { get; init; }
    public required string RunnerCommandLine { get; init; }
    public string ServerCommand { get; init; } = "";
    public IReadOnlyList<Scenario> Scenarios { get; init; } = [];
    public IReadOnlyList<string> Transports { get; init; } = [];
    public string Baseline { get; init; } = "sockets";
    public int Rounds { get; init; }
    public int DurationSeconds { get; init; }
    public int WarmupSeconds { get; init; }
    public int WrkThreads { get; init; } = 1;

    /// <summary>Scenario name → the client command line (with PORT for the run's port).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ClientCommands { get; init; } = [];

    /// <summary>File name → content of every Lua script used.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Scripts { get; init; } = [];

    public IReadOnlyList<RunMetrics> Runs { get; init; } = [];
    public IReadOnlyList<StraceCheck> StraceChecks { get; init; } = [];
    public string? StraceCommand { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Why the numbers are not valid (a machine that was not quiet); empty for a valid run.</summary>
    public IReadOnlyList<string> Invalid { get; init; } = [];
}
