namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>What the test process holds: fds, io_uring fds and mappings, ring threads.</summary>
public static class ProcessResources
{
    public static int OpenFdCount() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>
    /// The fds a transport can leak: sockets, io_uring instances and eventfds. (The runtime opens other fds
    /// lazily, e.g. for assemblies and its own epoll engine, so a total count is not comparable across a test.)
    /// </summary>
    public static int TransportFdCount() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => TryReadLink(fd) is string target &&
            (target.StartsWith("socket:", StringComparison.Ordinal) || target.Contains("io_uring", StringComparison.Ordinal) || target.Contains("eventfd", StringComparison.Ordinal)));

    public static int IoUringFdCount() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => (TryReadLink(fd) ?? "").Contains("io_uring", StringComparison.Ordinal));

    public static int IoUringMappingCount() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("io_uring", StringComparison.Ordinal));

    /// <summary>Threads of this process named like ring threads ("RingCore ring N").</summary>
    public static int RingThreadCount() => Directory.GetDirectories("/proc/self/task")
        .Count(t => (TryRead(Path.Combine(t, "comm")) ?? "").StartsWith("RingCore ring", StringComparison.Ordinal));

    public static int SocketFdCount() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => (TryReadLink(fd) ?? "").StartsWith("socket:", StringComparison.Ordinal));

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
    }
}
