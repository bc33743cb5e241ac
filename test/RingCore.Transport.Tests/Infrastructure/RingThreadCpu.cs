using System.Globalization;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>CPU time of this process's ring threads ("RingCore ring N"), from /proc/self/task/TID/stat.</summary>
public static class RingThreadCpu
{
    private static readonly double SecondsPerTick = 1.0 / 100; // USER_HZ is 100 on Linux

    /// <summary>User plus system CPU time used so far by every ring thread alive now.</summary>
    public static TimeSpan Total()
    {
        double ticks = 0;
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith("RingCore ring", StringComparison.Ordinal))
                {
                    continue;
                }
                string stat = File.ReadAllText(Path.Combine(task, "stat"));
                // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The thread exited while we looked.
            }
        }
        return TimeSpan.FromSeconds(ticks * SecondsPerTick);
    }

    /// <summary>
    /// Ring-thread CPU used during <paramref name="window"/> from now. A ring that spins uses the whole window; an
    /// idle one next to nothing. The delay is the measurement window itself, not synchronisation.
    /// </summary>
    public static async Task<TimeSpan> UsedDuringAsync(TimeSpan window)
    {
        TimeSpan before = Total();
        await Task.Delay(window);
        return Total() - before;
    }
}
