using System.Diagnostics;
using System.Net.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// The fallback path in a process where io_uring_setup really fails: test/RingCore.FallbackProbe installs a
/// seccomp filter on itself that denies the io_uring system calls (with EPERM, as Docker's default profile does,
/// or ENOSYS, as a kernel without io_uring answers), then starts Kestrel on RingCore.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class FallbackTests
{
    private const string FallbackWarning = "warn: RingCore.Transport[2] ";
    private const string RingListening = "info: RingCore.Transport[1] ";

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
        Assert.Contains("with 2 io_uring thread(s)", listening);
    }

    private static async Task AssertServesAsync(string url)
    {
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal("fallback-probe", await client.GetStringAsync("/"));
        Assert.Equal("fallback-probe", await client.GetStringAsync("/"));
    }

    private static int OwnSeccompMode() => ProbeProcess.ReadSeccompMode("/proc/self/status");

    /// <summary>
    /// One run of the probe with stdout and stderr read asynchronously line by line. Disposing it kills the probe
    /// if it is still running, so a failed assertion never leaves a process behind.
    /// </summary>
    private sealed class ProbeProcess : IAsyncDisposable
    {
        private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
        private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

        private readonly Process _process;
        private readonly Lock _lock = new();
        private readonly List<string> _stdout = [];
        private readonly List<string> _stderr = [];
        private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private ProbeProcess(Process process) => _process = process;

        public IReadOnlyList<string> StdoutLines
        {
            get
            {
                lock (_lock)
                {
                    return _stdout.ToArray();
                }
            }
        }

        public IReadOnlyList<string> StderrLines
        {
            get
            {
                lock (_lock)
                {
                    return _stderr.ToArray();
                }
            }
        }

        /// <summary>Everything the probe printed so far, for failure messages.</summary>
        public string Transcript =>
            "--- probe stdout ---\n" + string.Join('\n', StdoutLines) + "\n--- probe stderr ---\n" + string.Join('\n', StderrLines);

        public static ProbeProcess Start(string denyIoUring, string whenUnavailable)
        {
            string probeDll = LocateProbe();
            var startInfo = new ProcessStartInfo(DotnetHost())
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Path.GetDirectoryName(probeDll)!,
            };
            startInfo.ArgumentList.Add(probeDll);
            startInfo.ArgumentList.Add("--deny-io-uring");
            startInfo.ArgumentList.Add(denyIoUring);
            startInfo.ArgumentList.Add("--when-unavailable");
            startInfo.ArgumentList.Add(whenUnavailable);
            // Nothing from the test runner's environment may move the endpoint or change what gets logged.
            foreach (string name in startInfo.Environment.Keys.ToArray())
            {
                if (name.Contains("URLS", StringComparison.OrdinalIgnoreCase) || name.Contains("_PORTS", StringComparison.OrdinalIgnoreCase)
                    || name.StartsWith("Logging__", StringComparison.OrdinalIgnoreCase))
                {
                    startInfo.Environment.Remove(name);
                }
            }

            var process = new Process { StartInfo = startInfo };
            var probe = new ProbeProcess(process);
            process.OutputDataReceived += (_, e) => probe.OnStdout(e.Data);
            process.ErrorDataReceived += (_, e) => probe.OnStderr(e.Data);
            Assert.True(process.Start(), "could not start the probe");
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return probe;
        }

        private void OnStdout(string? line)
        {
            if (line is null)
            {
                // End of stdout: the probe has exited (or closed stdout) without saying it listens.
                _listening.TrySetException(new InvalidOperationException("The probe's stdout ended before it printed LISTENING."));
                return;
            }
            lock (_lock)
            {
                _stdout.Add(line);
            }
            if (line.StartsWith("LISTENING ", StringComparison.Ordinal))
            {
                _listening.TrySetResult(line["LISTENING ".Length..].Trim());
            }
            else if (line.StartsWith("STARTUP FAILED", StringComparison.Ordinal) || line.StartsWith("SECCOMP FAILED", StringComparison.Ordinal))
            {
                _listening.TrySetException(new InvalidOperationException(line));
            }
        }

        private void OnStderr(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_lock)
            {
                _stderr.Add(line);
            }
        }

        /// <summary>Waits for the probe's LISTENING line and returns the address it serves.</summary>
        public async Task<string> WaitUntilListeningAsync()
        {
            try
            {
                return await _listening.Task.WaitAsync(StartTimeout);
            }
            catch (Exception ex)
            {
                Assert.Fail($"The probe did not start listening: {ex.Message}\n{Transcript}");
                throw;
            }
        }

        /// <summary>Closes the probe's stdin, which tells it to stop, and checks it stops cleanly.</summary>
        public async Task CloseStdinAndAssertCleanExitAsync()
        {
            _process.StandardInput.Close();
            int exitCode = await WaitForExitAsync();
            Assert.True(exitCode == 0, $"exit code {exitCode}, expected 0.\n{Transcript}");
            Assert.Contains("STOPPED", StdoutLines);
            Assert.True(StderrLines.Count == 0, $"the probe wrote to stderr.\n{Transcript}");
            Assert.DoesNotContain(StdoutLines, l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal));
        }

        /// <summary>Waits for the probe to exit and for its output to be read to the end; returns its exit code.</summary>
        public async Task<int> WaitForExitAsync()
        {
            using var timeout = new CancellationTokenSource(ExitTimeout);
            try
            {
                // Also waits until the redirected stdout and stderr have reached end of file.
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"The probe did not exit within {ExitTimeout.TotalSeconds} s.\n{Transcript}");
            }
            return _process.ExitCode;
        }

        /// <summary>The Seccomp field of the running probe's /proc/PID/status (0 none, 2 filter).</summary>
        public int SeccompMode() => ReadSeccompMode($"/proc/{_process.Id}/status");

        public int IoUringFdCount() => Directory.GetFiles($"/proc/{_process.Id}/fd")
            .Count(fd => (TryReadLink(fd) ?? "").Contains("io_uring", StringComparison.Ordinal));

        /// <summary>Threads of the probe named like ring threads ("RingCore ring N").</summary>
        public int RingThreadCount() => Directory.GetDirectories($"/proc/{_process.Id}/task")
            .Count(t => TryRead(Path.Combine(t, "comm")).StartsWith("RingCore ring", StringComparison.Ordinal));

        public static int ReadSeccompMode(string statusPath)
        {
            string line = File.ReadLines(statusPath).Single(l => l.StartsWith("Seccomp:", StringComparison.Ordinal));
            return int.Parse(line["Seccomp:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    using var timeout = new CancellationTokenSource(ExitTimeout);
                    await _process.WaitForExitAsync(timeout.Token);
                }
            }
            catch (InvalidOperationException)
            {
                // It exited between the check and the kill.
            }
            finally
            {
                _process.Dispose();
            }
        }

        /// <summary>
        /// The probe's dll, built by the test project's ProjectReference into
        /// test/RingCore.FallbackProbe/bin/&lt;Configuration&gt;/&lt;TFM&gt;/ next to this project's
        /// test/RingCore.Transport.Tests/bin/&lt;Configuration&gt;/&lt;TFM&gt;/.
        /// </summary>
        private static string LocateProbe()
        {
            var testDir = new DirectoryInfo(Path.GetDirectoryName(typeof(FallbackTests).Assembly.Location)!);
            string tfm = testDir.Name;
            DirectoryInfo configurationDir = testDir.Parent!;
            DirectoryInfo testRoot = configurationDir.Parent!.Parent!.Parent!; // .../test
            string probe = Path.Combine(testRoot.FullName, "RingCore.FallbackProbe", "bin", configurationDir.Name, tfm, "RingCore.FallbackProbe.dll");
            Assert.True(File.Exists(probe), $"The fallback probe is not built at {probe} (test assembly in {testDir.FullName}).");
            return probe;
        }

        /// <summary>The dotnet host running the tests (the CLI sets DOTNET_HOST_PATH), else dotnet on the PATH.</summary>
        private static string DotnetHost()
        {
            string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(host) && File.Exists(host))
            {
                return host;
            }
            if (Environment.ProcessPath is string self && Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                return self;
            }
            return "dotnet";
        }

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

        private static string TryRead(string path)
        {
            try
            {
                return File.ReadAllText(path);
            }
            catch (IOException)
            {
                return "";
            }
        }
    }
}
