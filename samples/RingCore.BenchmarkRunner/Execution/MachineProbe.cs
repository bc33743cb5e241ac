using System.Runtime.InteropServices;
using RingCore.BenchmarkRunner.Reporting;

namespace RingCore.BenchmarkRunner.Execution;

internal static class MachineProbe
{
    public static async Task<MachineInfo> ProbeAsync(string? wrk, string? strace, string bombardierDescription, string openFilesLimit)
    {
        return new MachineInfo
        {
            Cores = Environment.ProcessorCount,
            CpuModel = ReadField("/proc/cpuinfo", "model name") ?? "unknown",
            Memory = Memory(ReadField("/proc/meminfo", "MemTotal")),
            Kernel = await FirstLineAsync("uname", ["-r"]) ?? "unknown",
            OsVersion = Environment.OSVersion.ToString(),
            DotNet = $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})",
            Wrk = wrk is null ? "not found" : await WrkVersionAsync(wrk) ?? "unknown version",
            Strace = strace is null ? "not found" : await FirstLineAsync(strace, ["-V"]) ?? "unknown version",
            Bombardier = bombardierDescription,
            IoUringDisabled = TryRead("/proc/sys/kernel/io_uring_disabled")?.Trim() ?? "absent (kernel without the sysctl)",
            LoadAverageAtStart = LoadAverage(),
            OpenFilesLimit = openFilesLimit,
        };
    }

    public static string LoadAverage() => string.Join(' ', (TryRead("/proc/loadavg") ?? "unknown").Split(' ').Take(3));

    /// <summary>The first load average figure (1 minute), or null.</summary>
    public static double? LoadAverage1() =>
        double.TryParse(LoadAverage().Split(' ')[0], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) ? v : null;

    // "24683620 kB" → "23.5 GiB"
    private static string Memory(string? memTotal)
    {
        string[] parts = (memTotal ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long kb)
            ? (kb / 1048576.0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + " GiB"
            : memTotal ?? "unknown";
    }

    /// <summary>"wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" → "wrk debian/4.1.0-3+b2 [epoll]".</summary>
    private static async Task<string?> WrkVersionAsync(string wrk)
    {
        string? line = await FirstLineAsync(wrk, ["-v"]);
        if (line is null)
        {
            return null;
        }
        int copyright = line.IndexOf(" Copyright", StringComparison.Ordinal);
        return copyright > 0 ? line[..copyright] : line;
    }

    public static async Task<string?> FirstLineAsync(string file, string[] args)
    {
        try
        {
            var output = await ProcessRunner.RunAsync(file, args, TimeSpan.FromSeconds(10));
            return output.Combined.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// Finds the bombardier HTTP load tool. Debian's "bombardier" package is a game (installed in /usr/games), so a
    /// candidate only counts when its --version output names itself as bombardier's HTTP tool.
    /// </summary>
    public static async Task<(string? Path, string Description)> FindBombardierAsync(string? explicitPath)
    {
        string? path = explicitPath is not null ? ProcessRunner.Which(explicitPath) : ProcessRunner.Which("bombardier");
        if (path is null)
        {
            return (null, explicitPath is null ? "not found on PATH" : $"not found at {explicitPath}");
        }
        if (path.StartsWith("/usr/games/", StringComparison.Ordinal))
        {
            return (null, $"not found ({path} is Debian's bombardier game, not the HTTP load tool)");
        }
        try
        {
            var output = await ProcessRunner.RunAsync(path, ["--version"], TimeSpan.FromSeconds(5));
            string first = output.Combined.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
            return first.StartsWith("bombardier version", StringComparison.Ordinal)
                ? (path, first)
                : (null, $"not usable ({path} --version said '{first}', not 'bombardier version ...')");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"not usable ({path}: {e.Message})");
        }
    }

    private static string? ReadField(string file, string field)
    {
        string? text = TryRead(file);
        if (text is null)
        {
            return null;
        }
        foreach (string line in text.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim() == field)
            {
                return line[(colon + 1)..].Trim();
            }
        }
        return null;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
