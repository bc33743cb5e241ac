using System.Globalization;
using System.Text.RegularExpressions;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>What one timed h2load run (-D) printed, plus latency percentiles from its --log-file.</summary>
public sealed record H2loadResult
{
    public double DurationSeconds { get; init; }
    public double RequestsPerSecond { get; init; }
    public double TransferBytesPerSecond { get; init; }
    public long Requests { get; init; }
    public long Succeeded { get; init; }
    public long Failed { get; init; }
    public long Errored { get; init; }
    public long TimedOut { get; init; }
    public long Non2xx3xxResponses { get; init; }

    public long Errors => Failed + Errored + TimedOut + Non2xx3xxResponses;
}

/// <summary>
/// Parses h2load's summary ("finished in 5.00s, 34056.50 req/s, 1.30MB/s", "requests: … total, … done, …
/// succeeded, … failed, … errored, … timeout", "status codes: … 2xx, … 3xx, … 4xx, … 5xx"). h2load prints no
/// percentiles, so <see cref="LatencyPercentilesUs"/> reads them from its per-request log (third column: µs until
/// the end of the response).
/// </summary>
public static partial class H2loadOutputParser
{
    public static H2loadResult Parse(string output)
    {
        var finished = FinishedLine().Match(output);
        var requests = RequestsLine().Match(output);
        if (!finished.Success || !requests.Success)
        {
            throw new FormatException("no h2load summary (\"finished in …\" and \"requests: …\") in the output.");
        }
        var status = StatusLine().Match(output);
        double seconds = Units.ParseNumber(finished.Groups["seconds"].Value);
        return new H2loadResult
        {
            DurationSeconds = seconds,
            RequestsPerSecond = Units.ParseNumber(finished.Groups["rps"].Value),
            TransferBytesPerSecond = Units.ParseBinaryBytes(finished.Groups["bytes"].Value),
            Requests = Count(requests, "done"),
            Succeeded = Count(requests, "succeeded"),
            Failed = Count(requests, "failed"),
            Errored = Count(requests, "errored"),
            TimedOut = Count(requests, "timeout"),
            Non2xx3xxResponses = status.Success ? Count(status, "c4") + Count(status, "c5") : 0,
        };
    }

    /// <summary>Percentile → µs, from the lines of an h2load --log-file (start µs, status, duration µs).</summary>
    public static IReadOnlyDictionary<int, double> LatencyPercentilesUs(IEnumerable<string> logLines, params int[] percentiles)
    {
        var durations = new List<double>();
        foreach (string line in logLines)
        {
            string[] columns = line.Split('\t');
            if (columns.Length >= 3 && double.TryParse(columns[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double us))
            {
                durations.Add(us);
            }
        }
        var result = new Dictionary<int, double>();
        if (durations.Count == 0)
        {
            return result;
        }
        durations.Sort();
        foreach (int p in percentiles)
        {
            // Nearest rank.
            int rank = (int)Math.Ceiling(p / 100.0 * durations.Count);
            result[p] = durations[Math.Clamp(rank - 1, 0, durations.Count - 1)];
        }
        return result;
    }

    private static long Count(Match m, string group) => long.Parse(m.Groups[group].Value, NumberStyles.Integer, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"finished in (?<seconds>[\d.]+)s, (?<rps>[\d.]+) req/s, (?<bytes>[\d.]+\s*[KMGT]?B)/s")]
    private static partial Regex FinishedLine();

    [GeneratedRegex(@"requests: (?<total>\d+) total, (?<started>\d+) started, (?<done>\d+) done, (?<succeeded>\d+) succeeded, (?<failed>\d+) failed, (?<errored>\d+) errored, (?<timeout>\d+) timeout")]
    private static partial Regex RequestsLine();

    [GeneratedRegex(@"status codes: (?<c2>\d+) 2xx, (?<c3>\d+) 3xx, (?<c4>\d+) 4xx, (?<c5>\d+) 5xx")]
    private static partial Regex StatusLine();
}
