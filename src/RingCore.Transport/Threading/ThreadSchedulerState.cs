namespace RingCore.Transport.Threading;

/// <summary>
/// Whether a thread of this process is running or waiting for a CPU, as the kernel's scheduler reports it
/// (/proc/self/task/TID/stat, field 3: R running or runnable; S, D sleeping; ...). Read by the takeover monitor to
/// tell application code that blocks from application code that computes, or that merely waits for a CPU on a
/// machine busier than its cores.
/// </summary>
internal static class ThreadSchedulerState
{
    /// <summary>True when thread <paramref name="tid"/> is running or runnable; false when it sleeps, or cannot be read.</summary>
    public static bool IsRunnable(int tid)
    {
        Span<byte> stat = stackalloc byte[512];
        int length;
        try
        {
            using var file = new FileStream($"/proc/self/task/{tid}/stat", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            length = file.Read(stat);
        }
        catch (IOException)
        {
            return false; // the thread is gone
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        // "tid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
        ReadOnlySpan<byte> text = stat[..length];
        int close = text.LastIndexOf((byte)')');
        return close >= 0 && close + 2 < text.Length && text[close + 2] == (byte)'R';
    }
}
