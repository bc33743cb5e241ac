using System.Security.Cryptography;
using RingCore.BenchmarkRunner.Execution;
using RingCore.BenchmarkRunner.Model;
using RingCore.BenchmarkRunner.Reporting;

namespace RingCore.BenchmarkRunner;

public static class Program
{
    private const string SampleDllRelative = "samples/RingCore.SampleApp/bin/Release/net10.0/RingCore.SampleApp.dll";
    private const string BuildHint = "dotnet build -c Release samples/RingCore.SampleApp";
    private const string ProxyDllRelative = "samples/RingCore.ProxySample/bin/Release/net10.0/RingCore.ProxySample.dll";
    private const string ProxyBuildHint = "dotnet build -c Release samples/RingCore.ProxySample";

    public static async Task<int> Main(string[] args)
    {
        var (options, error) = BenchmarkOptions.Parse(args);
        if (options is null)
        {
            Console.Error.WriteLine(error);
            Console.Error.WriteLine(BenchmarkOptions.Usage);
            return 2;
        }
        if (options.Help)
        {
            Console.WriteLine(BenchmarkOptions.Usage);
            return 0;
        }
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("The benchmark runner needs Linux (io_uring, /proc).");
            return 2;
        }

        string? repoRoot = FindRepoRoot();
        string dll = options.ServerDll is not null
            ? Path.GetFullPath(options.ServerDll)
            : Path.Combine(repoRoot ?? Directory.GetCurrentDirectory(), SampleDllRelative);
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"The sample app is not built: {dll} is missing.");
            Console.Error.WriteLine($"Build it first (from the repository root):\n  {BuildHint}");
            return 2;
        }
        string? proxyDll = null;
        if (options.Scenarios.Any(s => s.Proxied))
        {
            proxyDll = Path.Combine(repoRoot ?? Directory.GetCurrentDirectory(), ProxyDllRelative);
            if (!File.Exists(proxyDll))
            {
                Console.Error.WriteLine($"The proxy sample is not built: {proxyDll} is missing.");
                Console.Error.WriteLine($"Build it first (from the repository root):\n  {ProxyBuildHint}");
                return 2;
            }
        }
        string? wrk = ProcessRunner.Which("wrk");
        if (wrk is null)
        {
            Console.Error.WriteLine("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk).");
            return 2;
        }
        string dotnet = FindDotnet();
        string? strace = ProcessRunner.Which("strace");
        var (bombardier, bombardierDescription) = await MachineProbe.FindBombardierAsync(options.BombardierPath);

        // Children inherit the limit: raise it before any server starts so 10,000 connections fit on both sides.
        var (limitDescription, softLimit) = RaiseOpenFilesLimit(options.IdleConnections);
        Console.WriteLine($"RLIMIT_NOFILE: {limitDescription}");
        int maxIdle = options.IdleConnections;
        var notes = new List<string>();
        if (options.Scenarios.Contains(Scenarios.Idle10k) && (ulong)options.IdleConnections + 256 > softLimit)
        {
            maxIdle = (int)Math.Max(0, (long)softLimit - 256);
            string message = $"RLIMIT_NOFILE is {softLimit} and could not be raised enough for {options.IdleConnections:N0} connections: idle10k opens {maxIdle:N0} instead.";
            Console.WriteLine("WARNING: " + message);
            notes.Add(message);
        }
        if (options.Rounds < 3)
        {
            notes.Add($"Only {options.Rounds} round(s) per transport: medians need 3 or more to mean much.");
        }
        if (!options.Transports.Contains(options.Baseline))
        {
            notes.Add($"The baseline transport '{options.Baseline}' was not run, so there are no ratios.");
        }

        string? h2load = ProcessRunner.Which("h2load");
        var invalid = new List<string>();
        Console.WriteLine($"Waiting for a quiet machine (1-minute load average ≤ {options.MaxLoad}, CPU under {QuietGate.MaxBusyPercent}% busy; up to {options.StartQuietWaitSeconds} s)…");
        var startGate = await QuietGate.WaitAsync(options.MaxLoad, TimeSpan.FromSeconds(options.StartQuietWaitSeconds), CancellationToken.None);
        if (!startGate.Quiet)
        {
            string message = $"the machine was not quiet at the start: 1-minute load average {startGate.LoadAverage1:F2} (limit {options.MaxLoad}), {startGate.BusyPercent:F0}% of the CPU busy, after waiting {startGate.Waited.TotalSeconds:F0} s";
            if (!options.AllowNoisy)
            {
                Console.Error.WriteLine($"Refusing to measure: {message}. A busy machine flatters whichever transport uses less CPU per request. Stop what runs (top, uptime), or pass --allow-noisy to produce a report marked NOT VALID.");
                return 3;
            }
            invalid.Add(message);
        }
        var machine = await MachineProbe.ProbeAsync(wrk, strace, bombardierDescription, limitDescription);
        Console.WriteLine($"Machine: {machine.Cores} cores, kernel {machine.Kernel}, {machine.DotNet}, {machine.Wrk}; bombardier: {machine.Bombardier}");
        Console.WriteLine($"Server: {dll}");

        string workDir = Directory.CreateTempSubdirectory("ringcore-bench-").FullName;
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            Console.WriteLine("\nInterrupted: stopping the current run and writing what was measured.");
            cts.Cancel();
        };

        var scripts = new List<KeyValuePair<string, string>>();
        try
        {
            await File.WriteAllTextAsync(Path.Combine(workDir, LuaScripts.PipelineFileName), LuaScripts.Pipeline);
            string bodyPath = Path.Combine(workDir, "upload-body.bin");
            await File.WriteAllBytesAsync(bodyPath, RandomNumberGenerator.GetBytes((int)Scenarios.Upload.UploadBytes));
            await File.WriteAllTextAsync(Path.Combine(workDir, LuaScripts.ChurnFileName), LuaScripts.Churn);
            string upload = LuaScripts.Upload(bodyPath);
            await File.WriteAllTextAsync(Path.Combine(workDir, LuaScripts.UploadFileName), upload);
            if (options.Scenarios.Any(s => s.PipelineDepth > 1))
            {
                scripts.Add(new(LuaScripts.PipelineFileName, LuaScripts.Pipeline));
            }
            if (options.Scenarios.Any(s => s.CloseEvery > 0))
            {
                scripts.Add(new(LuaScripts.ChurnFileName, LuaScripts.Churn));
            }
            if (options.Scenarios.Any(s => s.IsUpload))
            {
                scripts.Add(new(LuaScripts.UploadFileName, upload.Replace(bodyPath, "TMP/upload-body.bin", StringComparison.Ordinal) + "\n-- TMP/upload-body.bin: 1 MiB of random bytes, written by the runner"));
            }

            var clients = new LoadClients(wrk, bombardier, h2load, options.WrkThreads, workDir);
            var session = new BenchmarkSession(options, dotnet, dll, proxyDll, clients, strace, workDir, Native.ClockTicksPerSecond(), maxIdle, Console.Out);
            var started = DateTimeOffset.UtcNow;
            try
            {
                await session.RunAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                notes.Add("The run was interrupted (Ctrl+C): the tables hold only what was measured before.");
            }

            var context = new ReportContext
            {
                Machine = machine with { LoadAverageAtEnd = MachineProbe.LoadAverage() },
                Started = started,
                Finished = DateTimeOffset.UtcNow,
                RunnerCommandLine = RunnerCommandLine(args, repoRoot),
                ServerCommand = ServerProcess.CommandTemplate(Path.GetFileName(dotnet), Relative(dll, repoRoot)),
                Scenarios = options.Scenarios,
                Transports = options.Transports,
                Baseline = options.Baseline,
                Rounds = options.Rounds,
                DurationSeconds = options.DurationSeconds,
                WarmupSeconds = options.WarmupSeconds,
                WrkThreads = options.WrkThreads,
                ClientCommands = session.ClientCommands,
                Scripts = scripts,
                Runs = session.Runs,
                StraceChecks = session.StraceChecks,
                StraceCommand = session.StraceRan && strace is not null
                    ? $"{StraceRunner.CommandTemplate(strace)}\n{LoadClients.Display(wrk, clients.Command(Scenarios.Plaintext64, "http://127.0.0.1:PORT", options.StraceSeconds, latency: false).Arguments)}"
                    : null,
                Notes = [.. notes, .. session.Notes],
                Invalid = [.. invalid, .. session.Runs.Where(r => r.Noisy).Select(r => $"{r.Scenario} / {r.Transport} / round {r.Round}: {r.Note}")],
            };

            var rows = MarkdownReport.Summarize(options.Scenarios, options.Transports, session.Runs, options.Baseline);
            Console.WriteLine();
            if (rows.Any(r => r.Scenario.Client != LoadClient.IdleConnections))
            {
                Console.WriteLine(MarkdownReport.ResultsTable(rows, options.Baseline));
            }
            if (rows.Any(r => r.Scenario.Blocking))
            {
                Console.WriteLine(MarkdownReport.BlockingTable(rows, options.Baseline));
            }
            if (rows.Any(r => r.Scenario.Client == LoadClient.IdleConnections))
            {
                Console.WriteLine(MarkdownReport.IdleTable(rows, options.Baseline));
            }
            if (session.StraceChecks.Count > 0)
            {
                Console.WriteLine(MarkdownReport.StraceTable(session.StraceChecks, rows));
            }
            foreach (string reason in context.Invalid)
            {
                Console.WriteLine("NOT VALID: " + reason);
            }
            foreach (string note in context.Notes.Concat(session.Runs.Where(r => r.Note is not null).Select(r => $"{r.Scenario} / {r.Transport} / round {r.Round}: {r.Note}")))
            {
                Console.WriteLine("note: " + note);
            }

            string output = Path.GetFullPath(options.OutputPath);
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            await File.WriteAllTextAsync(output, MarkdownReport.Document(context), CancellationToken.None);
            Console.WriteLine($"Wrote {output}");
            return session.Runs.Count > 0 && session.Runs.All(r => r.Failed) ? 1 : 0;
        }
        finally
        {
            try
            {
                Directory.Delete(workDir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }

    /// <summary>Raises the soft (and, when allowed, the hard) RLIMIT_NOFILE; describes the outcome.</summary>
    private static (string Description, ulong Soft) RaiseOpenFilesLimit(int idleConnections)
    {
        ulong wanted = Math.Max(65536UL, (ulong)idleConnections * 2 + 1024);
        var (soft, hard) = Native.GetOpenFilesLimit();
        if (soft >= wanted)
        {
            return ($"{soft} (already enough)", soft);
        }
        if (hard < wanted && Native.SetOpenFilesLimit(wanted, wanted) == 0)
        {
            return ($"raised from {soft}/{hard} (soft/hard) to {wanted}", wanted);
        }
        ulong target = Math.Min(wanted, hard);
        int errno = Native.SetOpenFilesLimit(target, hard);
        var (newSoft, newHard) = Native.GetOpenFilesLimit();
        string hardNote = newHard < wanted ? $"hard limit {newHard}, which this process may not raise (needs CAP_SYS_RESOURCE)" : $"hard limit {newHard}";
        string description = errno != 0 ? $"{soft} (setrlimit to {target} failed with errno {errno}; {hardNote})"
            : newSoft == soft ? $"{newSoft} ({hardNote})"
            : $"raised from {soft} to {newSoft} ({hardNote})";
        return (description, newSoft);
    }

    private static string? FindRepoRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "RingCore.Transport.sln")))
                {
                    return dir.FullName;
                }
            }
        }
        return null;
    }

    private static string FindDotnet()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (host is not null && File.Exists(host))
        {
            return host;
        }
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }
        return ProcessRunner.Which("dotnet") ?? "dotnet";
    }

    private static string RunnerCommandLine(string[] args, string? repoRoot)
    {
        string quoted = string.Join(' ', args.Select(a => a.Any(char.IsWhiteSpace) ? $"'{a}'" : a));
        string direct = $"dotnet {Relative(Path.Combine(AppContext.BaseDirectory, "RingCore.BenchmarkRunner.dll"), repoRoot)} {quoted}".TrimEnd();
        string? invokedAs = Environment.GetEnvironmentVariable("RINGCORE_BENCH_INVOKED_AS");
        return invokedAs is null ? direct : $"{invokedAs}\n# which builds in Release and runs:\n{direct}";
    }

    private static string Relative(string path, string? repoRoot) =>
        repoRoot is null ? path : Path.GetRelativePath(repoRoot, path);
}
