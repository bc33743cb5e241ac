using System.Runtime.InteropServices;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>The few libc calls the runner needs (Linux x64/arm64 layouts).</summary>
internal static unsafe partial class Native
{
    private const string Lib = "libc";
    private const int RlimitNofile = 7;
    private const int ScClkTck = 2;
    public const int SigInt = 2;
    public const int SigTerm = 15;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int setrlimit(int resource, RLimit* limit);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int kill(int pid, int signal);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial long sysconf(int name);

    public static (ulong Soft, ulong Hard) GetOpenFilesLimit()
    {
        RLimit limit;
        if (getrlimit(RlimitNofile, &limit) != 0)
        {
            throw new InvalidOperationException($"getrlimit(RLIMIT_NOFILE) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        return (limit.Current, limit.Maximum);
    }

    /// <summary>Sets RLIMIT_NOFILE of this process (children inherit it); returns 0 or the errno.</summary>
    public static int SetOpenFilesLimit(ulong soft, ulong hard)
    {
        var limit = new RLimit { Current = soft, Maximum = hard };
        return setrlimit(RlimitNofile, &limit) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Sends a signal; returns 0 or the errno.</summary>
    public static int Signal(int pid, int signal) => kill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int ClockTicksPerSecond()
    {
        long ticks = sysconf(ScClkTck);
        return ticks > 0 ? (int)ticks : 100;
    }
}
