using System.Text.RegularExpressions;
using RunnerStrace = RingCore.BenchmarkRunner.Execution.StraceSession;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// strace attached to every thread of a running process, tracing a chosen set of syscalls into a file, between
/// <see cref="AttachAsync"/> and <see cref="StopAsync"/> (the benchmark runner's StraceSession runs strace). What a
/// test does in between is all that gets recorded.
/// </summary>
public sealed partial class StraceSession : IAsyncDisposable
{
    private readonly RunnerStrace _strace;
    private readonly string _output;

    private StraceSession(RunnerStrace strace, string output)
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
        try
        {
            var strace = await RunnerStrace.AttachAsync("strace", pid, ["-e", "trace=" + string.Join(',', syscalls)], output, CancellationToken.None);
            return new StraceSession(strace, output);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            File.Delete(output);
            Assert.Fail($"strace could not trace {pid} ({ex.Message}); is it installed (apt-get install -y strace)?");
            throw;
        }
    }

    /// <summary>Detaches and returns the traced calls: the syscall's name and the whole line.</summary>
    public async Task<IReadOnlyList<(string Syscall, string Line)>> StopAsync()
    {
        await _strace.StopAsync();
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
        await _strace.DisposeAsync();
        File.Delete(_output);
    }

    [GeneratedRegex(@"^\d+\s+([a-z_0-9]+)\(")]
    private static partial Regex SyscallLine();
}
