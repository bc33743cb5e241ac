using System.Globalization;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>Parses /proc/&lt;pid&gt;/stat and /proc/&lt;pid&gt;/status text. Pure.</summary>
public static class ProcFsParser
{
    /// <summary>utime + stime (fields 14 and 15 of /proc/pid/stat) in clock ticks, for all threads of the process.</summary>
    public static long CpuTicks(string statText)
    {
        ArgumentNullException.ThrowIfNull(statText);
        // The command name (field 2) is in parentheses and may hold spaces or ')': fields restart after the last ')'.
        int close = statText.LastIndexOf(')');
        if (close < 0)
        {
            throw new FormatException("Not a /proc/<pid>/stat line.");
        }
        string[] rest = statText[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // rest[0] is field 3 (state), so field N is rest[N - 3].
        if (rest.Length < 13)
        {
            throw new FormatException("Too few fields in /proc/<pid>/stat.");
        }
        return long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture);
    }

    /// <summary>A "Name:   1234 kB" field of /proc/pid/status in bytes (VmHWM, VmRSS, ...), or null when absent.</summary>
    public static long? StatusBytes(string statusText, string field) => StatusValue(statusText, field);

    /// <summary>
    /// voluntary_ctxt_switches + nonvoluntary_ctxt_switches of one /proc/pid/task/tid/status, or null when absent.
    /// A thread that blocks and is woken (a thread-pool hop, a futex wait, a sleeping ring) costs one voluntary switch.
    /// </summary>
    public static long? ContextSwitches(string statusText)
    {
        ArgumentNullException.ThrowIfNull(statusText);
        long? voluntary = StatusValue(statusText, "voluntary_ctxt_switches");
        long? involuntary = StatusValue(statusText, "nonvoluntary_ctxt_switches");
        return voluntary is null || involuntary is null ? null : voluntary + involuntary;
    }

    /// <summary>A numeric field of /proc/pid/status ("Name:\t1234", or "1234 kB" converted to bytes), or null when absent.</summary>
    private static long? StatusValue(string statusText, string field)
    {
        ArgumentNullException.ThrowIfNull(statusText);
        foreach (string line in statusText.Split('\n'))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                continue;
            }
            string[] parts = line[(field.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            long value = long.Parse(parts[0], CultureInfo.InvariantCulture);
            return parts.Length > 1 && parts[1] == "kB" ? value * 1024 : value;
        }
        return null;
    }
}
