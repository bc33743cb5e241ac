using System.Diagnostics;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// A fresh network namespace with IPv6 disabled by sysctl, as container runtimes set it up
/// (net.ipv6.conf.all.disable_ipv6=1: the IPv6 stack is there, so socket(AF_INET6) works, but no interface has an
/// IPv6 address, so binding ::1 fails with EADDRNOTAVAIL). <see cref="Launcher"/> runs a command in it with
/// <c>unshare -n</c> (root or CAP_SYS_ADMIN); the namespace dies with that command.
/// </summary>
internal static class NetworkNamespace
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(10);

    // Printed by the launcher before the command starts, so that a test can check the sysctl took.
    public const string ReadyLine = "NETNS lo disable_ipv6=1";

    private const string Setup =
        "ip link set lo up && sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 && " +
        "echo \"NETNS lo disable_ipv6=$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6)\"";

    /// <summary>
    /// A program and arguments that set the namespace up and then exec the command appended to them (the command
    /// keeps the launcher's pid).
    /// </summary>
    public static IReadOnlyList<string> Launcher { get; } = LauncherWith(Setup);

    /// <summary>A launcher for a namespace set up by the shell commands <paramref name="setup"/> instead.</summary>
    public static IReadOnlyList<string> LauncherWith(string setup) => ["unshare", "-n", "--", "sh", "-c", setup + " && exec \"$0\" \"$@\""];

    private static readonly Lazy<string?> UnavailableReason = new(Check);

    /// <summary>Why a namespace cannot be made here, or null when it can.</summary>
    public static string? Unavailable => UnavailableReason.Value;

    /// <summary>True when the environment variable CI is "true": there, a test that cannot run must fail, not skip.</summary>
    public static bool OnCi => CiEnvironment.IsCi;

    /// <summary>Fails the test (it was not skipped, so this is CI) when no namespace can be made.</summary>
    public static void AssertAvailable()
    {
        if (Unavailable is string reason)
        {
            Assert.Fail($"Cannot create a network namespace, and CI=true does not allow skipping: {reason}");
        }
    }

    /// <summary>The same setup, running <c>true</c>: if that works, the probe can run there.</summary>
    private static string? Check()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces are Linux only.";
        }
        var startInfo = new ProcessStartInfo(Launcher[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in Launcher.Skip(1))
        {
            startInfo.ArgumentList.Add(arg);
        }
        startInfo.ArgumentList.Add("true");
        try
        {
            using var process = Process.Start(startInfo)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(CheckTimeout))
            {
                process.Kill(entireProcessTree: true);
                return $"`{string.Join(' ', Launcher)} true` did not finish within {CheckTimeout.TotalSeconds} s.";
            }
            process.WaitForExit(); // the output readers reach end of file
            if (process.ExitCode != 0 || stdout.Result.Trim() != ReadyLine)
            {
                return $"`unshare -n` with `ip link set lo up` and `sysctl net.ipv6.conf.all.disable_ipv6=1` failed " +
                    $"(exit code {process.ExitCode}; needs root or CAP_SYS_ADMIN, and ip and sysctl on PATH): " +
                    $"{stderr.Result.Trim()} {stdout.Result.Trim()}".Trim();
            }
            return null;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"unshare could not be started: {ex.Message}";
        }
    }
}

/// <summary>
/// A theory that needs <see cref="NetworkNamespace"/>: skipped with the reason where no namespace can be made,
/// except under CI=true, where it runs and fails (<see cref="NetworkNamespace.AssertAvailable"/>).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class TheoryNeedingNetworkNamespaceAttribute : TheoryAttribute
{
    public TheoryNeedingNetworkNamespaceAttribute()
    {
        if (!NetworkNamespace.OnCi && NetworkNamespace.Unavailable is string reason)
        {
            Skip = "Skipped: cannot create a network namespace here (set CI=true to make this a failure): " + reason;
        }
    }
}

/// <summary>A fact that needs root to make namespaces (see <see cref="TheoryNeedingNetworkNamespaceAttribute"/>).</summary>
public sealed class FactNeedingNetworkNamespaceAttribute : FactAttribute
{
    public FactNeedingNetworkNamespaceAttribute()
    {
        if (!NetworkNamespace.OnCi && NetworkNamespace.Unavailable is string reason)
        {
            Skip = "Skipped: cannot create a namespace here (set CI=true to make this a failure): " + reason;
        }
    }
}
