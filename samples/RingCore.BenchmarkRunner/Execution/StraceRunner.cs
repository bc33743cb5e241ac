using RingCore.BenchmarkRunner.Parsing;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary><c>strace -c -f -p PID -o FILE</c> around a piece of work; returns the parsed summary.</summary>
internal static class StraceRunner
{
    public static string CommandTemplate(string strace) => $"{Path.GetFileName(strace)} -c -f -p SERVER_PID -o SUMMARY_FILE   (stopped with SIGINT after the wrk run)";

    public static async Task<(StraceSummary Summary, T Result)> TraceAsync<T>(string strace, int pid, string summaryFile, Func<Task<T>> work, CancellationToken cancel)
    {
        await using var session = await StraceSession.AttachAsync(strace, pid, ["-c"], summaryFile, cancel);
        await Task.Delay(200, cancel);
        T result = await work();
        await session.StopAsync();
        string summary = File.Exists(summaryFile) ? await File.ReadAllTextAsync(summaryFile, cancel) : "";
        if (summary.Trim().Length == 0)
        {
            throw new InvalidOperationException("strace wrote no summary: " + session.FirstStderrLine);
        }
        return (StraceSummaryParser.Parse(summary), result);
    }
}
