using System.Diagnostics;
using System.Text;
using RingCore.BenchmarkRunner.Parsing;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary><c>strace -c -f -p PID -o FILE</c> around a piece of work; returns the parsed summary.</summary>
internal static class StraceRunner
{
    public static string CommandTemplate(string strace) => $"{Path.GetFileName(strace)} -c -f -p SERVER_PID -o SUMMARY_FILE   (stopped with SIGINT after the wrk run)";

    public static async Task<(StraceSummary Summary, T Result)> TraceAsync<T>(string strace, int pid, string summaryFile, Func<Task<T>> work, CancellationToken cancel)
    {
        var psi = new ProcessStartInfo(strace)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["-c", "-f", "-p", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-o", summaryFile])
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start strace.");
        var stderr = new StringBuilder();
        var attached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (stderr)
            {
                stderr.Append(e.Data).Append('\n');
            }
            if (e.Data.Contains("attached", StringComparison.Ordinal))
            {
                attached.TrySetResult();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await Task.WhenAny(attached.Task, process.WaitForExitAsync(cancel), Task.Delay(TimeSpan.FromSeconds(10), cancel));
            if (process.HasExited || !attached.Task.IsCompleted)
            {
                throw new InvalidOperationException("strace did not attach: " + Describe(stderr));
            }
            await Task.Delay(200, cancel);
            T result = await work();
            Native.Signal(process.Id, Native.SigInt);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(wait.Token);
            string summary = File.Exists(summaryFile) ? await File.ReadAllTextAsync(summaryFile, cancel) : "";
            if (summary.Trim().Length == 0)
            {
                throw new InvalidOperationException("strace wrote no summary: " + Describe(stderr));
            }
            return (StraceSummaryParser.Parse(summary), result);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    private static string Describe(StringBuilder stderr)
    {
        lock (stderr)
        {
            string text = stderr.ToString().Trim();
            return text.Length == 0 ? "(no output)" : text.Split('\n')[0];
        }
    }
}
