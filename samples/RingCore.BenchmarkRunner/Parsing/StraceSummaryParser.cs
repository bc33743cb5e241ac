using System.Globalization;

namespace RingCore.BenchmarkRunner.Parsing;

public sealed record StraceSyscall(string Name, double PercentTime, double Seconds, long Calls, long Errors);

/// <summary>The table <c>strace -c</c> prints: one row per syscall plus the total row.</summary>
public sealed record StraceSummary(IReadOnlyList<StraceSyscall> Syscalls, long TotalCalls, long TotalErrors, double TotalSeconds)
{
    /// <summary>The <paramref name="count"/> syscalls with the most calls, most first.</summary>
    public IReadOnlyList<StraceSyscall> Top(int count) =>
        Syscalls.OrderByDescending(s => s.Calls).ThenBy(s => s.Name, StringComparer.Ordinal).Take(count).ToList();
}

/// <summary>
/// Parses the summary of <c>strace -c [-f]</c> (strace 5.x/6.x layout: "% time seconds usecs/call calls errors syscall").
/// Lines that are not table rows ("strace: Process N attached", the header, the dashes) are skipped. Pure.
/// </summary>
public static class StraceSummaryParser
{
    public static StraceSummary Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var rows = new List<StraceSyscall>();
        StraceSyscall? total = null;
        bool sawHeader = false;
        foreach (string raw in output.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            string line = raw.Trim();
            if (line.StartsWith("% time", StringComparison.Ordinal))
            {
                sawHeader = true;
                continue;
            }
            // strace's own messages may share the total row's line when its summary went to a file without a final newline.
            int noise = line.IndexOf("strace:", StringComparison.Ordinal);
            if (noise > 0)
            {
                line = line[..noise].TrimEnd();
            }
            if (TryParseRow(line) is StraceSyscall row)
            {
                if (row.Name == "total")
                {
                    total = row;
                }
                else
                {
                    rows.Add(row);
                }
            }
        }

        if (!sawHeader && rows.Count == 0)
        {
            throw new FormatException("Not an strace -c summary (no '% time' header and no rows).");
        }
        return new StraceSummary(
            rows,
            total?.Calls ?? rows.Sum(r => r.Calls),
            total?.Errors ?? rows.Sum(r => r.Errors),
            total?.Seconds ?? rows.Sum(r => r.Seconds));
    }

    // "49.99    3.506934       26976       130         7 futex" or, with no errors, "0.06    0.004402          67        65           setsockopt".
    private static StraceSyscall? TryParseRow(string line)
    {
        string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is not (5 or 6))
        {
            return null;
        }
        string name = parts[^1];
        if (!char.IsLetter(name[0]) && name[0] != '_')
        {
            return null;
        }
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double percent)
            || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds)
            || !long.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out long calls))
        {
            return null;
        }
        long errors = 0;
        if (parts.Length == 6 && !long.TryParse(parts[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out errors))
        {
            return null;
        }
        return new StraceSyscall(name, percent, seconds, calls, errors);
    }
}
