using System.Diagnostics;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>Sends a signal to another process with kill(1), as an operator or a container runtime would.</summary>
public static class PosixSignals
{
    /// <summary>Sends SIG<paramref name="name"/> (e.g. "TERM", "INT") to <paramref name="pid"/> and checks kill succeeded.</summary>
    public static async Task SendAsync(int pid, string name)
    {
        using var kill = Process.Start("kill", [$"-{name}", pid.ToString()]);
        await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(kill.ExitCode == 0, $"kill -{name} {pid} failed with exit code {kill.ExitCode}");
    }
}
