namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>What one wrk run printed. Latencies are in microseconds, byte counts in bytes.</summary>
public sealed record WrkResult
{
    public int Threads { get; init; }
    public int Connections { get; init; }
    public double LatencyAverageUs { get; init; }
    public double LatencyStdevUs { get; init; }
    public double LatencyMaxUs { get; init; }

    /// <summary>Percentile (50, 75, 90, 99) → latency in µs; empty without --latency.</summary>
    public IReadOnlyDictionary<int, double> LatencyPercentilesUs { get; init; } = new Dictionary<int, double>();

    public long Requests { get; init; }
    public double DurationSeconds { get; init; }
    public double BytesRead { get; init; }
    public double RequestsPerSecond { get; init; }
    public double TransferBytesPerSecond { get; init; }
    public long ConnectErrors { get; init; }
    public long ReadErrors { get; init; }
    public long WriteErrors { get; init; }
    public long TimeoutErrors { get; init; }
    public long Non2xx3xxResponses { get; init; }

    public long SocketErrors => ConnectErrors + ReadErrors + WriteErrors + TimeoutErrors;

    public double? LatencyPercentileUs(int percentile) =>
        LatencyPercentilesUs.TryGetValue(percentile, out double value) ? value : null;
}
