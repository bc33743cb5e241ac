using System.Diagnostics;
using System.Text.RegularExpressions;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// strace attached to every thread of a running process, tracing a chosen set of syscalls into a file, between
/// <see cref="AttachAsync"/> and <see cref="StopAsync"/>. What a test does in between is all that gets recorded.
/// </summary>
public sealed partial class StraceSession : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly Process _strace;
    private readonly string _output;
    private readonly TaskCompletionSource _attached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<string> _stderr = [];

    private StraceSession(Process strace, string output)
    {
        _strace = strace;
        _output = output;
    }

    /// <summary>
    /// Attaches to <paramref name="pid"/> and all its threads (-f also follows threads created later) and returns
    /// once strace says it is attached to all of them. strace must be installed: it is part of what the suite needs.
    /// </summary>
    public static async Task<StraceSession> AttachAsync(int pid, IEnumerable<string> syscalls)
    {
        string output = Path.Combine(Path.GetTempPath(), $"ringcore-strace-{pid}-{Guid.NewGuid():N}.txt");
        var startInfo = new ProcessStartInfo("strace") { RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "-f", "-p", pid.ToString(), "-e", "trace=" + string.Join(',', syscalls), "-o", output })
        {
            startInfo.ArgumentList.Add(arg);
        }
        Process strace;
        try
        {
            strace = Process.Start(startInfo)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"strace could not be started ({ex.Message}); install it (apt-get install -y strace).");
            throw;
        }
        var session = new StraceSession(strace, output);
        strace.ErrorDataReceived += (_, e) => session.OnStderr(e.Data);
        strace.BeginErrorReadLine();
        try
        {
            await session._attached.Task.WaitAsync(Timeout);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            await session.DisposeAsync();
            string stderr;
            lock (session._stderr)
            {
                stderr = string.Join('\n', session._stderr);
            }
            Assert.Fail($"strace did not attach to {pid}: {ex.Message}\n{stderr}");
        }
        return session;
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            _attached.TrySetException(new InvalidOperationException("strace exited before it attached"));
            return;
        }
        lock (_stderr)
        {
            _stderr.Add(line);
        }
        // "strace: Process 1234 attached with 20 threads" once every thread is traced.
        if (line.Contains(" attached", StringComparison.Ordinal))
        {
            _attached.TrySetResult();
        }
    }

    /// <summary>Detaches (SIGINT, as Ctrl+C would) and returns the traced calls: the syscall's name and the whole line.</summary>
    public async Task<IReadOnlyList<(string Syscall, string Line)>> StopAsync()
    {
        Assert.Equal(0, RingCore.BenchmarkRunner.Execution.Native.Signal(_strace.Id, RingCore.BenchmarkRunner.Execution.Native.SigInt));
        await _strace.WaitForExitAsync().WaitAsync(Timeout);
        var calls = new List<(string, string)>();
        foreach (string line in await File.ReadAllLinesAsync(_output))
        {
            // "2251  sendto(230, ..." or "2254  <... read resumed>..."; resumed halves are counted at their start.
            Match match = SyscallLine().Match(line);
            if (match.Success)
            {
                calls.Add((match.Groups[1].Value, line));
            }
        }
        return calls;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_strace.HasExited)
        {
            _strace.Kill();
            await _strace.WaitForExitAsync();
        }
        _strace.Dispose();
        File.Delete(_output);
    }

    [GeneratedRegex(@"^\d+\s+([a-z_0-9]+)\(")]
    private static partial Regex SyscallLine();
}
