using System.Diagnostics;
using System.Text;

namespace RingCore.BenchmarkRunner.Execution;

public sealed record ProcessOutput(int ExitCode, string StandardOutput, string StandardError, bool TimedOut)
{
    public string Combined => StandardOutput + StandardError;
}

/// <summary>Runs a command to completion with a time limit, capturing its output.</summary>
internal static class ProcessRunner
{
    public static async Task<ProcessOutput> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancel = default)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outTask = PumpAsync(process.StandardOutput, stdout);
        var errTask = PumpAsync(process.StandardError, stderr);
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeoutCts.CancelAfter(timeout);
        bool timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeoutCts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            await process.WaitForExitAsync(CancellationToken.None);
        }
        await Task.WhenAll(outTask, errTask);
        cancel.ThrowIfCancellationRequested();
        return new ProcessOutput(timedOut ? -1 : process.ExitCode, stdout.ToString(), stderr.ToString(), timedOut);
    }

    /// <summary>Finds an executable on PATH (or returns the path when it is one).</summary>
    public static string? Which(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(name) ? Path.GetFullPath(name) : null;
        }
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        char[] buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            into.Append(buffer, 0, read);
        }
    }
}
