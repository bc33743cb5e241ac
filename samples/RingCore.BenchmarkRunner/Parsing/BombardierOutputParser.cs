using System.Globalization;
using System.Text.RegularExpressions;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>What one bombardier run printed (text output, <c>-l -p r</c>). Latencies in µs, throughput in bytes/s.</summary>
public sealed record BombardierResult
{
    public double RequestsPerSecondAverage { get; init; }
    public double RequestsPerSecondStdev { get; init; }
    public double RequestsPerSecondMax { get; init; }
    public double LatencyAverageUs { get; init; }
    public double LatencyStdevUs { get; init; }
    public double LatencyMaxUs { get; init; }

    /// <summary>Percentile → µs, from the first "Latency Distribution" block (the "(Total)" one in newer versions).</summary>
    public IReadOnlyDictionary<int, double> LatencyPercentilesUs { get; init; } = new Dictionary<int, double>();

    public long Http1xx { get; init; }
    public long Http2xx { get; init; }
    public long Http3xx { get; init; }
    public long Http4xx { get; init; }
    public long Http5xx { get; init; }
    public long Others { get; init; }

    /// <summary>Error message → count, from the "Errors:" block.</summary>
    public IReadOnlyDictionary<string, long> Errors { get; init; } = new Dictionary<string, long>();

    public double ThroughputBytesPerSecond { get; init; }

    public long TotalRequests => Http1xx + Http2xx + Http3xx + Http4xx + Http5xx + Others;

    public long ErrorCount => Errors.Values.Sum() + Http4xx + Http5xx;

    public double? LatencyPercentileUs(int percentile) =>
        LatencyPercentilesUs.TryGetValue(percentile, out double value) ? value : null;
}

/// <summary>Parses bombardier's (codesenberg/bombardier 1.x) plain-text result. Pure: text in, numbers out.</summary>
public static partial class BombardierOutputParser
{
    public static BombardierResult Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var reqs = ReqsRegex().Match(output);
        var latency = LatencyRegex().Match(output);
        var codes = CodesRegex().Match(output);
        var throughput = ThroughputRegex().Match(output);
        if (!reqs.Success || !codes.Success || !throughput.Success)
        {
            throw new FormatException("Not a bombardier report (no 'Reqs/sec', 'HTTP codes' or 'Throughput' line).");
        }

        string[] lines = output.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        var percentiles = new Dictionary<int, double>();
        var errors = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.StartsWith("Latency Distribution", StringComparison.Ordinal) && percentiles.Count == 0)
            {
                for (int j = i + 1; j < lines.Length && PercentileRegex().Match(lines[j]) is { Success: true } m; j++)
                {
                    percentiles[(int)Math.Round(Units.ParseNumber(m.Groups["p"].Value))] = Units.ParseDurationMicroseconds(m.Groups["v"].Value);
                }
            }
            else if (line == "Errors:")
            {
                for (int j = i + 1; j < lines.Length && ErrorLineRegex().Match(lines[j]) is { Success: true } m
                     && !lines[j].TrimStart().StartsWith("Throughput:", StringComparison.Ordinal); j++)
                {
                    string message = m.Groups["msg"].Value.Trim();
                    errors[message] = errors.GetValueOrDefault(message) + long.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
                }
            }
        }

        var others = OthersRegex().Match(output);
        return new BombardierResult
        {
            RequestsPerSecondAverage = Units.ParseNumber(reqs.Groups["avg"].Value),
            RequestsPerSecondStdev = Units.ParseNumber(reqs.Groups["stdev"].Value),
            RequestsPerSecondMax = Units.ParseNumber(reqs.Groups["max"].Value),
            LatencyAverageUs = latency.Success ? Units.ParseDurationMicroseconds(latency.Groups["avg"].Value) : 0,
            LatencyStdevUs = latency.Success ? Units.ParseDurationMicroseconds(latency.Groups["stdev"].Value) : 0,
            LatencyMaxUs = latency.Success ? Units.ParseDurationMicroseconds(latency.Groups["max"].Value) : 0,
            LatencyPercentilesUs = percentiles,
            Http1xx = Long(codes, "c1"),
            Http2xx = Long(codes, "c2"),
            Http3xx = Long(codes, "c3"),
            Http4xx = Long(codes, "c4"),
            Http5xx = Long(codes, "c5"),
            Others = others.Success ? Long(others, "n") : 0,
            Errors = errors,
            ThroughputBytesPerSecond = Units.ParseBinaryBytes(throughput.Groups["v"].Value),
        };
    }

    private static long Long(Match m, string group) => long.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\s*Reqs/sec\s+(?<avg>[0-9.]+)\s+(?<stdev>[0-9.]+)\s+(?<max>[0-9.]+)", RegexOptions.Multiline)]
    private static partial Regex ReqsRegex();

    [GeneratedRegex(@"^\s*Latency\s+(?<avg>[0-9.]+[a-zµ]+)\s+(?<stdev>[0-9.]+[a-zµ]+)\s+(?<max>[0-9.]+[a-zµ]+)", RegexOptions.Multiline)]
    private static partial Regex LatencyRegex();

    [GeneratedRegex(@"^\s*(?<p>\d+(\.\d+)?)%\s+(?<v>[0-9.]+[a-zµ]+)\s*$")]
    private static partial Regex PercentileRegex();

    [GeneratedRegex(@"1xx - (?<c1>\d+), 2xx - (?<c2>\d+), 3xx - (?<c3>\d+), 4xx - (?<c4>\d+), 5xx - (?<c5>\d+)")]
    private static partial Regex CodesRegex();

    [GeneratedRegex(@"^\s*others - (?<n>\d+)", RegexOptions.Multiline)]
    private static partial Regex OthersRegex();

    [GeneratedRegex(@"^\s+(?<msg>.+) - (?<n>\d+)\s*$")]
    private static partial Regex ErrorLineRegex();

    [GeneratedRegex(@"Throughput:\s+(?<v>[0-9.]+[KMGTP]?i?B/s)")]
    private static partial Regex ThroughputRegex();
}
