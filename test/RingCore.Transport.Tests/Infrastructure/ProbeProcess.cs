using System.Diagnostics;
using System.Globalization;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// One run of test/RingCore.FallbackProbe (Kestrel on RingCore in a child process) with stdout and stderr read
/// asynchronously line by line. Disposing it kills the probe if it is still running, so a failed assertion never
/// leaves a process behind.
/// </summary>
public sealed class ProbeProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly List<(Func<string, bool> Match, int FromLine, TaskCompletionSource<string> Found)> _lineWaiters = [];
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ProbeProcess(Process process) => _process = process;

    public int Pid => _process.Id;

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

    /// <summary>Number of stdout lines read so far.</summary>
    public int StdoutLineCount
    {
        get
        {
            lock (_lock)
            {
                return _stdout.Count;
            }
        }
    }

    /// <summary>Everything the probe printed so far, for failure messages.</summary>
    public string Transcript =>
        "--- probe stdout ---\n" + string.Join('\n', StdoutLines) + "\n--- probe stderr ---\n" + string.Join('\n', StderrLines);

    /// <summary>
    /// Starts the probe with <c>--deny-io-uring</c>, <c>--when-unavailable</c>, any further arguments, and
    /// environment variables set on top of the test runner's. A <paramref name="launcher"/> (a program and its
    /// arguments, e.g. <c>unshare -n --</c>) runs the dotnet host and its arguments instead; it must exec them, so that
    /// <see cref="Pid"/> stays the probe's.
    /// </summary>
    public static ProbeProcess Start(string denyIoUring, string whenUnavailable, string[]? moreArgs = null,
        IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? launcher = null)
    {
        string[] args = ["--deny-io-uring", denyIoUring, "--when-unavailable", whenUnavailable, .. moreArgs ?? []];
        return Launch(LocateProbe(), args, environment, launcher);
    }

    /// <summary>
    /// Starts samples/<paramref name="sampleName"/> (built by the test project's ProjectReference) with
    /// <paramref name="args"/>, read and cleaned up like the probe. Samples print no LISTENING line: wait for
    /// Kestrel's "Now listening on:" with <see cref="WaitForLineAsync"/>.
    /// </summary>
    public static ProbeProcess StartSample(string sampleName, string[] args) => Launch(LocateSample(sampleName), args, null, null);

    private static ProbeProcess Launch(string dll, string[] args, IReadOnlyDictionary<string, string>? environment, IReadOnlyList<string>? launcher)
    {
        var startInfo = new ProcessStartInfo(launcher is null ? DotnetHost() : launcher[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        if (launcher is not null)
        {
            foreach (string arg in launcher.Skip(1))
            {
                startInfo.ArgumentList.Add(arg);
            }
            startInfo.ArgumentList.Add(DotnetHost());
        }
        startInfo.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }
        // Nothing from the test runner's environment may move the endpoint or change what gets logged.
        foreach (string name in startInfo.Environment.Keys.ToArray())
        {
            if (name.Contains("URLS", StringComparison.OrdinalIgnoreCase) || name.Contains("_PORTS", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("Logging__", StringComparison.OrdinalIgnoreCase))
            {
                startInfo.Environment.Remove(name);
            }
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        var process = new Process { StartInfo = startInfo };
        var probe = new ProbeProcess(process);
        process.OutputDataReceived += (_, e) => probe.OnStdout(e.Data);
        process.ErrorDataReceived += (_, e) => probe.OnStderr(e.Data);
        Assert.True(process.Start(), $"could not start {dll}");
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
            lock (_lock)
            {
                foreach (var waiter in _lineWaiters)
                {
                    waiter.Found.TrySetException(new InvalidOperationException("The probe's stdout ended before the line was printed."));
                }
                _lineWaiters.Clear();
            }
            return;
        }
        lock (_lock)
        {
            _stdout.Add(line);
            int index = _stdout.Count - 1;
            for (int i = _lineWaiters.Count - 1; i >= 0; i--)
            {
                var waiter = _lineWaiters[i];
                if (index >= waiter.FromLine && waiter.Match(line))
                {
                    waiter.Found.TrySetResult(line);
                    _lineWaiters.RemoveAt(i);
                }
            }
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

    /// <summary>
    /// A task that completes with the first stdout line, at index <paramref name="fromLine"/> or later, that
    /// <paramref name="match"/> accepts (lines already read count). It faults if stdout ends first; the caller bounds
    /// the wait.
    /// </summary>
    public Task<string> LineAsync(Func<string, bool> match, int fromLine = 0)
    {
        lock (_lock)
        {
            for (int i = fromLine; i < _stdout.Count; i++)
            {
                if (match(_stdout[i]))
                {
                    return Task.FromResult(_stdout[i]);
                }
            }
            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _lineWaiters.Add((match, fromLine, found));
            return found.Task;
        }
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) for a stdout line as <see cref="LineAsync"/> describes.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, int fromLine = 0, string? what = null)
    {
        try
        {
            return await LineAsync(match, fromLine).WaitAsync(timeout);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            Assert.Fail($"The probe did not print {what ?? "the expected line"} within {timeout.TotalSeconds} s: {ex.Message}\n{Transcript}");
            throw;
        }
    }

    /// <summary>Writes one command line to the probe's standard input.</summary>
    public async Task SendCommandAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
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

    public int IoUringFdCount() => ProcessResources.IoUringFdCount($"/proc/{_process.Id}");

    /// <summary>Sockets the probe holds open.</summary>
    public int SocketFdCount() => ProcessResources.SocketFdCount($"/proc/{_process.Id}");

    /// <summary>
    /// Waits until the probe holds <paramref name="expected"/> sockets. Another process's fd table offers no event
    /// to await, so this looks every 20 ms, for at most <paramref name="timeout"/>.
    /// </summary>
    public Task WaitForSocketCountAsync(int expected, TimeSpan timeout)
    {
        int count = 0;
        return Polling.UntilAsync(() => (count = SocketFdCount()) == expected, timeout,
            () => $"The probe holds {count} sockets after {timeout.TotalSeconds} s; expected {expected}.\n{Transcript}", intervalMilliseconds: 20);
    }

    /// <summary>Threads of the probe named like ring threads ("RingCore ring N").</summary>
    public int RingThreadCount() => ProcessResources.RingThreadCount($"/proc/{_process.Id}");

    /// <summary>
    /// CPU time the probe has used so far, user plus system (utime + stime of /proc/PID/stat, in clock ticks of
    /// 1/100 s: USER_HZ is 100 on every Linux architecture .NET runs on).
    /// </summary>
    public TimeSpan CpuTime()
    {
        string stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        // The command name (field 2) is in parentheses and may contain spaces: fields from 3 on follow the last ')'.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long utime = long.Parse(fields[14 - 3], CultureInfo.InvariantCulture);
        long stime = long.Parse(fields[15 - 3], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((utime + stime) / 100.0);
    }

    public static int ReadSeccompMode(string statusPath)
    {
        string line = File.ReadLines(statusPath).Single(l => l.StartsWith("Seccomp:", StringComparison.Ordinal));
        return int.Parse(line["Seccomp:".Length..].Trim(), CultureInfo.InvariantCulture);
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
        (DirectoryInfo testRoot, string configuration, string tfm) = BuildLayout();
        string probe = Path.Combine(testRoot.FullName, "RingCore.FallbackProbe", "bin", configuration, tfm, "RingCore.FallbackProbe.dll");
        Assert.True(File.Exists(probe), $"The fallback probe is not built at {probe}.");
        return probe;
    }

    /// <summary>samples/&lt;name&gt;/bin/&lt;Configuration&gt;/&lt;TFM&gt;/&lt;name&gt;.dll, next to test/.</summary>
    private static string LocateSample(string name)
    {
        (DirectoryInfo testRoot, string configuration, string tfm) = BuildLayout();
        string sample = Path.Combine(testRoot.Parent!.FullName, "samples", name, "bin", configuration, tfm, name + ".dll");
        Assert.True(File.Exists(sample), $"The sample {name} is not built at {sample}.");
        return sample;
    }

    /// <summary>The test folder and this test assembly's configuration and TFM (test/RingCore.Transport.Tests/bin/&lt;Configuration&gt;/&lt;TFM&gt;/).</summary>
    private static (DirectoryInfo TestRoot, string Configuration, string Tfm) BuildLayout()
    {
        var testDir = new DirectoryInfo(Path.GetDirectoryName(typeof(ProbeProcess).Assembly.Location)!);
        DirectoryInfo configurationDir = testDir.Parent!;
        return (configurationDir.Parent!.Parent!.Parent!, configurationDir.Name, testDir.Name);
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
}
