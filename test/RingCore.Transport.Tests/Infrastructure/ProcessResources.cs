namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>What the test process holds: fds, io_uring fds and mappings, ring threads.</summary>
public static class ProcessResources
{
    private const string Self = "/proc/self";

    public static int OpenFdCount() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>
    /// The fds a transport can leak: sockets, io_uring instances and eventfds. (The runtime opens other fds
    /// lazily, e.g. for assemblies and its own epoll engine, so a total count is not comparable across a test.)
    /// </summary>
    public static int TransportFdCount() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => TryReadLink(fd) is string target &&
            (target.StartsWith("socket:", StringComparison.Ordinal) || target.Contains("io_uring", StringComparison.Ordinal) || target.Contains("eventfd", StringComparison.Ordinal)));

    /// <summary>io_uring instances open in this process, or in the one whose /proc directory is given.</summary>
    public static int IoUringFdCount(string process = Self) => Directory.GetFiles($"{process}/fd")
        .Count(fd => (TryReadLink(fd) ?? "").Contains("io_uring", StringComparison.Ordinal));

    public static int IoUringMappingCount() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("io_uring", StringComparison.Ordinal));

    /// <summary>Threads of this process (or the one whose /proc directory is given) named like ring threads ("RingCore ring N").</summary>
    public static int RingThreadCount(string process = Self) => RingThreadTasks(process).Count();

    /// <summary>
    /// Waits until no ring thread is left (fails after <paramref name="timeout"/>, 10 s by default). A ring thread
    /// completes its Stopped task as its last managed act and only then exits, so right after a host has stopped
    /// the OS may still list it for a moment; /proc offers no event to await, so this looks every 5 ms.
    /// </summary>
    public static Task WaitForNoRingThreadsAsync(TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(10);
        int count = 0;
        return Polling.UntilAsync(() => (count = RingThreadCount()) == 0, limit,
            () => $"{count} ring thread(s) still run {limit.TotalSeconds} s after their server stopped: {DescribeRingThreads()}");
    }

    /// <summary>Waits until exactly <paramref name="expected"/> ring threads run (see <see cref="WaitForNoRingThreadsAsync"/>).</summary>
    public static Task WaitForRingThreadCountAsync(int expected, TimeSpan? timeout = null)
    {
        int count = 0;
        return Polling.UntilAsync(() => (count = RingThreadCount()) == expected, timeout ?? TimeSpan.FromSeconds(10),
            () => $"{count} ring thread(s) run; expected {expected}.");
    }

    /// <summary>The thread ids of this process's threads named like ring threads.</summary>
    public static IEnumerable<int> RingThreadIds() => RingThreadTasks(Self)
        .Select(t => int.Parse(Path.GetFileName(t), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>How often thread <paramref name="tid"/> of this process has gone to sleep (voluntary context switches).</summary>
    public static long VoluntarySwitches(int tid) => long.Parse(
        File.ReadLines($"/proc/self/task/{tid}/status").Single(l => l.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
            .Split(':')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sockets open in this process, or in the one whose /proc directory is given.</summary>
    public static int SocketFdCount(string process = Self) => Directory.GetFiles($"{process}/fd")
        .Count(fd => (TryReadLink(fd) ?? "").StartsWith("socket:", StringComparison.Ordinal));

    /// <summary>Where each thread named like a ring thread is, for a failure message: tid, state, kernel wait channel and stack.</summary>
    public static string DescribeRingThreads() => string.Join("; ", RingThreadTasks(Self)
        .Select(t => $"tid {Path.GetFileName(t)} '{TryRead(Path.Combine(t, "comm"))?.Trim()}' " +
                     $"state {(TryRead(Path.Combine(t, "stat")) ?? "").Split(") ").LastOrDefault()?.Split(' ').FirstOrDefault()} " +
                     $"wchan {TryRead(Path.Combine(t, "wchan"))} " +
                     $"kernel stack [{(TryRead(Path.Combine(t, "stack")) ?? "").ReplaceLineEndings(" | ")}]"));

    /// <summary>Every io_uring of this process as the kernel reports it (/proc/self/fdinfo), for a failure message.</summary>
    public static string DescribeIoUrings() => string.Join(Environment.NewLine, Directory.GetFiles("/proc/self/fd")
        .Where(fd => (TryReadLink(fd) ?? "").Contains("io_uring", StringComparison.Ordinal))
        .Select(fd => $"fd {Path.GetFileName(fd)}: {(TryRead($"/proc/self/fdinfo/{Path.GetFileName(fd)}") ?? "").ReplaceLineEndings(" | ")}"));

    /// <summary>The /proc task directories of the process's threads named like ring threads.</summary>
    private static IEnumerable<string> RingThreadTasks(string process) => Directory.GetDirectories($"{process}/task")
        .Where(t => (TryRead(Path.Combine(t, "comm")) ?? "").StartsWith("RingCore ring", StringComparison.Ordinal));

    private static string? TryReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
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
