using System.Net.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// The fallback path in a process where io_uring_setup really fails: test/RingCore.FallbackProbe (run by <see cref="ProbeProcess"/>) installs a
/// seccomp filter on itself that denies the io_uring system calls (with EPERM, as Docker's default profile does,
/// or ENOSYS, as a kernel without io_uring answers), then starts Kestrel on RingCore.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class FallbackTests
{
    private const string FallbackWarning = "warn: RingCore.Transport[2] ";
    private const string RingListening = "info: RingCore.Transport[1] ";

    [Fact]
    public async Task Outbound_connections_fall_back_to_sockets_too_under_the_same_single_warning()
    {
        // The host has both UseRingCore and AddRingCoreConnectionFactory; io_uring is denied, so the listener serves on
        // Sockets and HttpClient over the connection factory connects with a Socket: one request goes out and back.
        await using var probe = ProbeProcess.Start("EPERM", "FallBackToSockets", ["--outbound-request", "self"]);

        await probe.WaitUntilListeningAsync();
        string outbound = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-REQUEST", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Equal("OUTBOUND-REQUEST 200 fallback-probe", outbound);
        Assert.Equal(0, probe.IoUringFdCount());
        Assert.Equal(0, probe.RingThreadCount());

        await probe.CloseStdinAndAssertCleanExitAsync();
        Assert.Single(probe.StdoutLines, l => l.StartsWith(FallbackWarning, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Seccomp_EPERM_falls_back_to_sockets_with_one_warning_that_names_seccomp()
    {
        await using var probe = ProbeProcess.Start("EPERM", "FallBackToSockets");

        string url = await probe.WaitUntilListeningAsync();
        Assert.Equal(2, probe.SeccompMode()); // the filter is on, so io_uring_setup failed for real
        await AssertServesAsync(url);
        Assert.Equal(0, probe.IoUringFdCount());
        Assert.Equal(0, probe.RingThreadCount());

        await probe.CloseStdinAndAssertCleanExitAsync();

        string warning = Assert.Single(probe.StdoutLines, l => l.StartsWith(FallbackWarning, StringComparison.Ordinal));
        Assert.Contains("falls back to Kestrel's Sockets transport", warning);
        Assert.Contains("io_uring_setup was denied", warning);
        Assert.Contains("seccomp", warning);
        Assert.Contains("WhenUnavailable = Throw", warning);
        Assert.DoesNotContain(probe.StdoutLines, l => l.StartsWith(RingListening, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Seccomp_ENOSYS_falls_back_to_sockets_with_one_warning_that_names_the_kernel()
    {
        await using var probe = ProbeProcess.Start("ENOSYS", "FallBackToSockets");

        string url = await probe.WaitUntilListeningAsync();
        Assert.Equal(2, probe.SeccompMode());
        await AssertServesAsync(url);
        Assert.Equal(0, probe.IoUringFdCount());
        Assert.Equal(0, probe.RingThreadCount());

        await probe.CloseStdinAndAssertCleanExitAsync();

        string warning = Assert.Single(probe.StdoutLines, l => l.StartsWith(FallbackWarning, StringComparison.Ordinal));
        Assert.Contains("falls back to Kestrel's Sockets transport", warning);
        Assert.Contains("This kernel has no io_uring", warning);
        Assert.Contains("CONFIG_IO_URING", warning);
        Assert.DoesNotContain("seccomp", warning);
        Assert.DoesNotContain(probe.StdoutLines, l => l.StartsWith(RingListening, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Seccomp_EPERM_with_Throw_fails_startup_with_RingUnavailableException()
    {
        await using var probe = ProbeProcess.Start("EPERM", "Throw");

        int exitCode = await probe.WaitForExitAsync();

        Assert.True(exitCode == 4, $"exit code {exitCode}, expected 4.\n{probe.Transcript}");
        string failure = Assert.Single(probe.StdoutLines, l => l.StartsWith("STARTUP FAILED: ", StringComparison.Ordinal));
        Assert.StartsWith($"STARTUP FAILED: {typeof(RingUnavailableException).FullName}: io_uring_setup was denied", failure);
        Assert.Contains("seccomp", failure);
        Assert.DoesNotContain(probe.StdoutLines, l => l.StartsWith("LISTENING ", StringComparison.Ordinal));
        Assert.DoesNotContain(probe.StdoutLines, l => l.StartsWith(FallbackWarning, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_the_filter_the_same_probe_serves_over_io_uring_and_does_not_warn()
    {
        await using var probe = ProbeProcess.Start("none", "FallBackToSockets");

        string url = await probe.WaitUntilListeningAsync();
        Assert.Equal(OwnSeccompMode(), probe.SeccompMode());
        await AssertServesAsync(url);
        Assert.Equal(2, probe.IoUringFdCount());
        Assert.Equal(2, probe.RingThreadCount());

        await probe.CloseStdinAndAssertCleanExitAsync();

        Assert.DoesNotContain(probe.StdoutLines, l => l.StartsWith(FallbackWarning, StringComparison.Ordinal));
        string listening = Assert.Single(probe.StdoutLines, l => l.StartsWith(RingListening, StringComparison.Ordinal));
        Assert.Contains("2 io_uring ring(s)", listening);
    }

    private static async Task AssertServesAsync(string url)
    {
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal("fallback-probe", await client.GetStringAsync("/"));
        Assert.Equal("fallback-probe", await client.GetStringAsync("/"));
    }

    private static int OwnSeccompMode() => ProbeProcess.ReadSeccompMode("/proc/self/status");
}
