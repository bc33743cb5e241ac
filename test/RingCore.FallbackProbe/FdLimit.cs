using System.Runtime.InteropServices;

namespace RingCore.FallbackProbe;

/// <summary>
/// File descriptor limits for the exhaustion tests: a low soft RLIMIT_NOFILE set at startup, and filler fds that
/// use up all but a chosen number of the fd numbers below it, so that accept(2) fails with EMFILE after a known
/// number of connections. (Lowering the limit later would not do: io_uring reads RLIMIT_NOFILE when an accept
/// SQE is prepared, so a multishot accept armed at startup keeps the limit of that moment.)
/// </summary>
internal static unsafe partial class FdLimit
{
    private const int RLIMIT_NOFILE = 7;
    private const int O_RDONLY = 0;
    private const int O_CLOEXEC = 0x80000; // same on x86-64 and arm64
    private const int EMFILE = 24;

    private static readonly List<int> Fillers = [];

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current; // rlim_t is 64 bits on x86-64 and arm64
        public ulong Maximum;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, RLimit* limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    /// <summary>Sets the soft RLIMIT_NOFILE (the hard limit is kept); returns an error or null.</summary>
    public static string? SetSoftLimit(ulong soft)
    {
        RLimit current;
        if (getrlimit(RLIMIT_NOFILE, &current) != 0)
        {
            return $"getrlimit failed: {Describe(Marshal.GetLastPInvokeError())}";
        }
        var lowered = new RLimit { Current = soft, Maximum = current.Maximum };
        return setrlimit(RLIMIT_NOFILE, &lowered) == 0 ? null : $"setrlimit({soft}) failed: {Describe(Marshal.GetLastPInvokeError())}";
    }

    public static ulong SoftLimit()
    {
        RLimit current;
        return getrlimit(RLIMIT_NOFILE, &current) == 0 ? current.Current : 0;
    }

    /// <summary>
    /// Opens /dev/null until no fd number below the soft limit is left, then closes the last
    /// <paramref name="free"/> of those fillers, so that exactly that many fd numbers are free. (Counting the fds
    /// in /proc/self/fd would not do: a thread blocked in open(2), such as the runtime's debugger pipe, holds a
    /// reserved number that is not listed.) Returns the soft limit, the fds open before and the fillers kept, or
    /// an error.
    /// </summary>
    public static (ulong Soft, int OpenBefore, int Fillers, string? Error) LeaveFree(int free)
    {
        ulong soft = SoftLimit();
        if (soft == 0 || soft > 65536)
        {
            return (soft, 0, 0, $"the soft limit {soft} is not a low one: start the probe with --nofile");
        }
        int openBefore = OpenFds().Count;
        var opened = new List<int>();
        while (true)
        {
            int fd = Open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd >= 0)
            {
                opened.Add(fd);
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EMFILE)
            {
                break;
            }
            opened.ForEach(f => close(f));
            return (soft, openBefore, 0, $"open(/dev/null) failed after {opened.Count} fillers: {Describe(errno)}");
        }
        if (opened.Count < free)
        {
            opened.ForEach(f => close(f));
            return (soft, openBefore, 0, $"only {opened.Count} fds were free below the limit");
        }
        foreach (int fd in opened.Skip(opened.Count - free))
        {
            close(fd);
        }
        Fillers.AddRange(opened.Take(opened.Count - free));
        return (soft, openBefore, Fillers.Count, null);
    }

    /// <summary>
    /// Starts <paramref name="count"/> thread-pool workers now and leaves them idle (they retire after 20 s idle),
    /// so that the pool need not create threads while fds are exhausted: .NET cannot start a thread without fds
    /// (the new thread reads /sys/devices/system/cpu/possible and makes a pipe, its creator names it through
    /// /proc/self/task/TID/comm) and fails fast with "Out of memory." when it tries.
    /// </summary>
    public static void PrestartThreadPoolWorkers(int count)
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, count), io);
        // Not disposed: the workers may still be inside Signal and Wait when this method returns.
        var running = new CountdownEvent(count);
        var release = new ManualResetEventSlim();
        for (int i = 0; i < count; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                running.Signal();
                release.Wait();
            }, null);
        }
        bool allRunning = running.Wait(TimeSpan.FromSeconds(10));
        release.Set();
        if (!allRunning)
        {
            throw new TimeoutException($"the thread pool did not run {count} work items at once within 10 s");
        }
    }

    /// <summary>The fd numbers open right now (without the one used to list them).</summary>
    public static SortedSet<int> OpenFds()
    {
        var open = new SortedSet<int>();
        foreach (string path in Directory.GetFiles("/proc/self/fd"))
        {
            // The directory's own fd is listed too, but is closed by now: its link no longer resolves.
            if (int.TryParse(Path.GetFileName(path), out int fd) && LinkExists(path))
            {
                open.Add(fd);
            }
        }
        return open;
    }

    private static bool LinkExists(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
