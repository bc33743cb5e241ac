using System.Globalization;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// Tests that count process-wide resources (io_uring fds, mappings) run alone, so rings created by other test
/// classes cannot move the counts while they look.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessResourceCollection
{
    public const string Name = "Process resources (not parallel)";
}

/// <summary>Copies every CQE it is given, in order.</summary>
internal sealed class CqeCollector : ICqeHandler
{
    public List<IoUringCqe> Completions { get; } = new();

    public void OnCompletion(in IoUringCqe cqe) => Completions.Add(cqe);

    /// <summary>Returns what has been collected and starts again empty.</summary>
    public List<IoUringCqe> Take()
    {
        var taken = new List<IoUringCqe>(Completions);
        Completions.Clear();
        return taken;
    }
}

internal static class RingTestExtensions
{
    /// <summary>
    /// Submits, then waits and reaps until <paramref name="count"/> completions have been collected. Never waits for
    /// more than the CQ can hold at once, so it also drains a CQ overflow, and never waits while SQEs are still in
    /// the ring's backlog (their completions cannot come before they are submitted).
    /// </summary>
    public static List<IoUringCqe> SubmitAndReap(this IoUring ring, uint count)
    {
        var collector = new CqeCollector();
        while (collector.Completions.Count < count)
        {
            uint waitFor = ring.BacklogCount > 0 ? 0 : Math.Min(count - (uint)collector.Completions.Count, ring.CqEntries);
            ring.SubmitAndWait(waitFor);
            ring.ReapCompletions(collector);
        }
        return collector.Completions;
    }

    public static IoUringCqe SubmitAndReapOne(this IoUring ring) => Assert.Single(ring.SubmitAndReap(1));
}

/// <summary>A pair of connected file descriptors (pipe or socketpair), closed on dispose.</summary>
internal sealed unsafe class FdPair : IDisposable
{
    private FdPair(int first, int second)
    {
        First = first;
        Second = second;
    }

    /// <summary>The pipe's read end, or one end of the socketpair.</summary>
    public int First { get; private set; }

    /// <summary>The pipe's write end, or the other end of the socketpair.</summary>
    public int Second { get; private set; }

    public static FdPair Pipe()
    {
        int* fds = stackalloc int[2];
        Assert.True(Libc.pipe2(fds, Libc.O_CLOEXEC) == 0, $"pipe2: {Errno.Describe(Libc.LastErrno)}");
        return new FdPair(fds[0], fds[1]);
    }

    public static FdPair UnixStreamSocketPair()
    {
        int* fds = stackalloc int[2];
        Assert.True(
            Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds) == 0,
            $"socketpair: {Errno.Describe(Libc.LastErrno)}");
        return new FdPair(fds[0], fds[1]);
    }

    public static void WriteAll(int fd, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            nint written = Libc.write(fd, p, (nuint)bytes.Length);
            Assert.True(written == bytes.Length, $"write returned {written}: {Errno.Describe(Libc.LastErrno)}");
        }
    }

    /// <summary>Closes <see cref="Second"/> early (e.g. to send EOF to <see cref="First"/>).</summary>
    public void CloseSecond()
    {
        if (Second >= 0)
        {
            Libc.close(Second);
            Second = -1;
        }
    }

    public void Dispose()
    {
        if (First >= 0)
        {
            Libc.close(First);
            First = -1;
        }
        CloseSecond();
    }
}

/// <summary>What /proc/self says about this process's io_uring fds and mappings.</summary>
internal static class ProcSelf
{
    /// <summary>Target of /proc/self/fd/N, or null when N is not open.</summary>
    public static string? FdTarget(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // closed meanwhile, or not ours to read
        }
    }

    public static bool IsIoUringFd(int fd) => FdTarget(fd)?.Contains("io_uring", StringComparison.Ordinal) == true;

    /// <summary>Number of open fds that are io_urings (anon_inode:[io_uring]).</summary>
    public static int CountIoUringFds()
    {
        int count = 0;
        foreach (string entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), out int fd) && IsIoUringFd(fd))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>Number of lines of /proc/self/maps that name io_uring (the mapped SQ/CQ rings and SQE arrays).</summary>
    public static int CountIoUringMappings() =>
        File.ReadAllLines("/proc/self/maps").Count(line => line.Contains("io_uring", StringComparison.Ordinal));

    /// <summary>True when some mapping of this process contains <paramref name="address"/>.</summary>
    public static bool IsMapped(nint address) => MappingContaining(address) is not null;

    /// <summary>The bounds of the mapping of this process that contains <paramref name="address"/>, or null.</summary>
    public static (ulong Start, ulong End)? MappingContaining(nint address)
    {
        ulong a = (ulong)address;
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            // "start-end perms offset dev inode path", addresses in hex
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            ulong start = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong end = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (a >= start && a < end)
            {
                return (start, end);
            }
        }
        return null;
    }
}
