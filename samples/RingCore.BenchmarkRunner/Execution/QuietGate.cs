using System.Globalization;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// Whether the machine is quiet enough to measure on. A busy machine flatters whichever transport uses less CPU per
/// request, so the runner refuses to start while the 1-minute load average is above the limit, and before every
/// round waits until nothing else uses the CPU (under <see cref="MaxBusyPercent"/> of all cores over one second).
/// The load average is not checked between rounds: it decays over minutes and, right after a run, mostly measures
/// that run itself; the one-second CPU sample sees other processes at once.
/// </summary>
internal static class QuietGate
{
    public const double MaxBusyPercent = 5.0;

    /// <summary>The aggregate "cpu" line of /proc/stat, in clock ticks.</summary>
    public readonly record struct CpuTimes(long Busy, long Idle, long Steal)
    {
        public long Total => Busy + Idle + Steal;
    }

    /// <summary>One reading before a round: the load average and how busy the CPU was over the last second.</summary>
    public sealed record Reading(double? LoadAverage1, double BusyPercent, double StealPercent, TimeSpan Waited, bool Quiet);

    public static CpuTimes Read() => Parse(File.ReadLines("/proc/stat").First());

    /// <summary>"cpu  user nice system idle iowait irq softirq steal …" → busy (user..softirq minus idle), idle, steal.</summary>
    public static CpuTimes Parse(string cpuLine)
    {
        string[] f = cpuLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 9 || f[0] != "cpu")
        {
            throw new FormatException($"Not the aggregate cpu line of /proc/stat: '{cpuLine}'.");
        }
        long V(int i) => long.Parse(f[i], NumberStyles.Integer, CultureInfo.InvariantCulture);
        long idle = V(4) + V(5);                       // idle + iowait
        long busy = V(1) + V(2) + V(3) + V(6) + V(7);  // user + nice + system + irq + softirq
        return new CpuTimes(busy, idle, V(8));
    }

    /// <summary>Share of all cores' time that was busy (or stolen by the hypervisor) between two readings, in %.</summary>
    public static double BusyPercent(CpuTimes before, CpuTimes after)
    {
        long total = after.Total - before.Total;
        return total <= 0 ? 0 : 100.0 * (after.Busy - before.Busy + after.Steal - before.Steal) / total;
    }

    /// <summary>Share of all cores' time the hypervisor stole between two readings, in %.</summary>
    public static double StealPercent(CpuTimes before, CpuTimes after)
    {
        long total = after.Total - before.Total;
        return total <= 0 ? 0 : 100.0 * (after.Steal - before.Steal) / total;
    }

    /// <summary>
    /// Samples the CPU one second at a time until it is quiet (and, when <paramref name="maxLoad"/> is given, the
    /// load average is at most that), or <paramref name="maxWait"/> has passed.
    /// </summary>
    public static async Task<Reading> WaitAsync(double? maxLoad, TimeSpan maxWait, CancellationToken cancel)
    {
        var started = DateTime.UtcNow;
        while (true)
        {
            var before = Read();
            await Task.Delay(TimeSpan.FromSeconds(1), cancel);
            var after = Read();
            double busy = BusyPercent(before, after);
            double? load = MachineProbe.LoadAverage1();
            bool quiet = busy < MaxBusyPercent && (maxLoad is null || load is double l && l <= maxLoad);
            var waited = DateTime.UtcNow - started;
            if (quiet || waited >= maxWait)
            {
                return new Reading(load, busy, StealPercent(before, after), waited, quiet);
            }
        }
    }
}
