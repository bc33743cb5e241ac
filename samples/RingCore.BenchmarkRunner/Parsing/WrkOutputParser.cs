using System.Globalization;
using System.Text.RegularExpressions;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>
/// Parses wrk 4.x's report (with or without --latency, with or without a Lua script). Pure: text in, numbers out.
/// </summary>
public static partial class WrkOutputParser
{
    public static WrkResult Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output.Contains("unable to connect", StringComparison.Ordinal))
        {
            throw new FormatException("wrk could not connect: " + FirstLine(output));
        }

        var header = HeaderRegex().Match(output);
        var latency = LatencyRowRegex().Match(output);
        var totals = TotalsRegex().Match(output);
        var rps = RequestsPerSecondRegex().Match(output);
        var transfer = TransferRegex().Match(output);
        if (!totals.Success || !rps.Success || !transfer.Success)
        {
            throw new FormatException("Not a wrk report (no 'requests in', 'Requests/sec' or 'Transfer/sec' line): " + FirstLine(output));
        }

        var percentiles = new Dictionary<int, double>();
        int distribution = output.IndexOf("Latency Distribution", StringComparison.Ordinal);
        if (distribution >= 0)
        {
            foreach (Match m in PercentileRegex().Matches(output[distribution..]))
            {
                int key = (int)Math.Round(Units.ParseNumber(m.Groups["p"].Value));
                percentiles[key] = Units.ParseDurationMicroseconds(m.Groups["v"].Value);
            }
        }

        var errors = SocketErrorsRegex().Match(output);
        var non2xx = Non2xxRegex().Match(output);
        return new WrkResult
        {
            Threads = header.Success ? int.Parse(header.Groups["t"].Value, CultureInfo.InvariantCulture) : 0,
            Connections = header.Success ? int.Parse(header.Groups["c"].Value, CultureInfo.InvariantCulture) : 0,
            LatencyAverageUs = latency.Success ? Units.ParseDurationMicroseconds(latency.Groups["avg"].Value) : 0,
            LatencyStdevUs = latency.Success ? Units.ParseDurationMicroseconds(latency.Groups["stdev"].Value) : 0,
            LatencyMaxUs = latency.Success ? Units.ParseDurationMicroseconds(latency.Groups["max"].Value) : 0,
            LatencyPercentilesUs = percentiles,
            Requests = long.Parse(totals.Groups["n"].Value, CultureInfo.InvariantCulture),
            DurationSeconds = Units.ParseDurationMicroseconds(totals.Groups["d"].Value) / 1_000_000,
            BytesRead = Units.ParseBinaryBytes(totals.Groups["b"].Value),
            RequestsPerSecond = Units.ParseNumber(rps.Groups["v"].Value),
            TransferBytesPerSecond = Units.ParseBinaryBytes(transfer.Groups["v"].Value),
            ConnectErrors = errors.Success ? long.Parse(errors.Groups["connect"].Value, CultureInfo.InvariantCulture) : 0,
            ReadErrors = errors.Success ? long.Parse(errors.Groups["read"].Value, CultureInfo.InvariantCulture) : 0,
            WriteErrors = errors.Success ? long.Parse(errors.Groups["write"].Value, CultureInfo.InvariantCulture) : 0,
            TimeoutErrors = errors.Success ? long.Parse(errors.Groups["timeout"].Value, CultureInfo.InvariantCulture) : 0,
            Non2xx3xxResponses = non2xx.Success ? long.Parse(non2xx.Groups["n"].Value, CultureInfo.InvariantCulture) : 0,
        };
    }

    private static string FirstLine(string text)
    {
        string trimmed = text.Trim();
        int newline = trimmed.IndexOf('\n');
        return newline < 0 ? trimmed : trimmed[..newline].TrimEnd();
    }

    [GeneratedRegex(@"(?<t>\d+) threads? and (?<c>\d+) connections?")]
    private static partial Regex HeaderRegex();

    [GeneratedRegex(@"^\s*Latency\s+(?<avg>\S+)\s+(?<stdev>\S+)\s+(?<max>\S+)", RegexOptions.Multiline)]
    private static partial Regex LatencyRowRegex();

    [GeneratedRegex(@"^\s*(?<p>\d+(\.\d+)?)%\s+(?<v>[0-9.]+[a-zµ]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex PercentileRegex();

    [GeneratedRegex(@"(?<n>\d+) requests in (?<d>[0-9.]+[a-z]+), (?<b>[0-9.]+[KMGTP]?B) read")]
    private static partial Regex TotalsRegex();

    [GeneratedRegex(@"Requests/sec:\s+(?<v>[0-9.]+)")]
    private static partial Regex RequestsPerSecondRegex();

    [GeneratedRegex(@"Transfer/sec:\s+(?<v>[0-9.]+[KMGTP]?B)")]
    private static partial Regex TransferRegex();

    [GeneratedRegex(@"Socket errors: connect (?<connect>\d+), read (?<read>\d+), write (?<write>\d+), timeout (?<timeout>\d+)")]
    private static partial Regex SocketErrorsRegex();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (?<n>\d+)")]
    private static partial Regex Non2xxRegex();
}
