using System.Diagnostics;
using System.Text;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// strace attached to a running process and all its threads (<c>-f -p PID -o FILE</c> plus the caller's options),
/// from <see cref="AttachAsync"/> until <see cref="StopAsync"/> (SIGINT, as Ctrl+C would); disposing kills it if
/// it still runs. Used by <see cref="StraceRunner"/> and by the tests that watch a process's syscalls.
/// </summary>
internal sealed class StraceSession : IAsyncDisposable
{
    private static readonly TimeSpan AttachTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _attached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StraceSession(Process process) => _process = process;

    /// <summary>strace's first line of stderr, for error messages.</summary>
    public string FirstStderrLine
    {
        get
        {
            lock (_stderr)
            {
                string text = _stderr.ToString().Trim();
                return text.Length == 0 ? "(no output)" : text.Split('\n')[0];
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="strace"/> and returns once it says it is attached ("Process N attached with M
    /// threads"); throws <see cref="InvalidOperationException"/> when it exits or stays silent instead.
    /// </summary>
    public static async Task<StraceSession> AttachAsync(string strace, int pid, IEnumerable<string> options, string outputFile, CancellationToken cancel)
    {
        var psi = new ProcessStartInfo(strace)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])[.. options, "-f", "-p", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-o", outputFile])
        {
            psi.ArgumentList.Add(a);
        }
        var session = new StraceSession(Process.Start(psi) ?? throw new InvalidOperationException("Could not start strace."));
        session._process.ErrorDataReceived += (_, e) => session.OnStderr(e.Data);
        session._process.OutputDataReceived += (_, _) => { };
        session._process.BeginErrorReadLine();
        session._process.BeginOutputReadLine();
        try
        {
            await Task.WhenAny(session._attached.Task, session._process.WaitForExitAsync(cancel), Task.Delay(AttachTimeout, cancel));
            cancel.ThrowIfCancellationRequested();
            if (session._process.HasExited || !session._attached.Task.IsCompleted)
            {
                throw new InvalidOperationException($"strace did not attach to {pid}: {session.FirstStderrLine}");
            }
            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_stderr)
        {
            _stderr.Append(line).Append('\n');
        }
        if (line.Contains("attached", StringComparison.Ordinal))
        {
            _attached.TrySetResult();
        }
    }

    /// <summary>Detaches (SIGINT) and waits for strace to finish writing its output file.</summary>
    public async Task StopAsync()
    {
        Native.Signal(_process.Id, Native.SigInt);
        using var wait = new CancellationTokenSource(StopTimeout);
        await _process.WaitForExitAsync(wait.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync(CancellationToken.None);
        }
        _process.Dispose();
    }
}
