using System.Globalization;
using RingCore.BenchmarkRunner.Model;
using RingCore.BenchmarkRunner.Parsing;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>One client run's numbers, whichever client produced them.</summary>
internal sealed record ClientResult(long Requests, double RequestsPerSecond, double TransferBytesPerSecond, double? P50Us, double? P99Us, long Errors, double DurationSeconds)
{
    /// <summary>The neighbour load's own run, which went on at the same time (<see cref="Scenario.Neighbours"/>).</summary>
    public ClientResult? Neighbours { get; init; }

    /// <summary>Bytes of answers that were not what they should be (the mixed client checks every byte; wrk does not).</summary>
    public long? WrongBytes { get; init; }

    /// <summary>Completed requests by kind (the mixed client).</summary>
    public string? Mix { get; init; }
}

internal sealed class LoadClients
{
    private readonly string _wrk;
    private readonly string? _bombardier;
    private readonly string? _h2load;
    private readonly int _wrkThreads;
    private readonly string _scriptDir;

    public LoadClients(string wrk, string? bombardier, string? h2load, int wrkThreads, string scriptDir)
    {
        _wrk = wrk;
        _bombardier = bombardier;
        _h2load = h2load;
        _wrkThreads = wrkThreads;
        _scriptDir = scriptDir;
    }

    public bool HasBombardier => _bombardier is not null;

    public bool HasH2load => _h2load is not null;

    public string ChurnScript => Path.Combine(_scriptDir, LuaScripts.ChurnFileName);

    /// <summary>Where a measured h2load run writes its per-request log (the percentiles come from it).</summary>
    public string H2loadLog => Path.Combine(_scriptDir, "h2load-requests.tsv");

    public string PipelineScript => Path.Combine(_scriptDir, LuaScripts.PipelineFileName);
    public string UploadScript => Path.Combine(_scriptDir, LuaScripts.UploadFileName);

    /// <summary>The client's file name and arguments for a scenario (wrk for the idle scenario's warm-up).</summary>
    public (string FileName, IReadOnlyList<string> Arguments) Command(Scenario s, string baseUrl, int seconds, bool latency = true)
    {
        string url = baseUrl + s.PathAndQuery;
        if (s.Client == LoadClient.MixedBlocking)
        {
            throw new InvalidOperationException("the mixed-blocking load is the runner's own client, not a command (MixedBlockingClient.Describe).");
        }
        if (s.Client == LoadClient.Bombardier)
        {
            if (_bombardier is null)
            {
                throw new InvalidOperationException("bombardier is not available.");
            }
            return (_bombardier, ["-c", s.Connections.ToString(CultureInfo.InvariantCulture), "-d", $"{seconds}s", "-l", "-p", "r", url]);
        }
        if (s.Client == LoadClient.H2load)
        {
            if (_h2load is null)
            {
                throw new InvalidOperationException("h2load is not available.");
            }
            var h2 = new List<string>
            {
                "-t1", $"-c{s.Connections}", $"-m{s.Streams}", "-D", seconds.ToString(CultureInfo.InvariantCulture),
            };
            if (latency)
            {
                h2.Add($"--log-file={H2loadLog}");
            }
            h2.Add(url);
            return (_h2load, h2);
        }
        int connections = s.Client == LoadClient.IdleConnections ? 64 : s.Connections;
        var args = new List<string>
        {
            $"-t{Math.Min(_wrkThreads, connections)}", $"-c{connections}", $"-d{seconds}s", "--timeout", "10s",
        };
        if (latency)
        {
            args.Add("--latency");
        }
        if (s.PipelineDepth > 1)
        {
            args.AddRange(["-s", PipelineScript]);
        }
        else if (s.IsUpload)
        {
            args.AddRange(["-s", UploadScript]);
        }
        else if (s.CloseEvery > 0)
        {
            args.AddRange(["-s", ChurnScript]);
        }
        args.Add(s.Client == LoadClient.IdleConnections ? baseUrl + "/plaintext" : url);
        if (s.PipelineDepth > 1)
        {
            args.AddRange(["--", s.PipelineDepth.ToString(CultureInfo.InvariantCulture)]);
        }
        else if (s.CloseEvery > 0)
        {
            args.AddRange(["--", s.CloseEvery.ToString(CultureInfo.InvariantCulture)]);
        }
        return (_wrk, args);
    }

    /// <summary>The second wrk of a scenario with neighbours: their connections, their target, no latency report.</summary>
    public (string FileName, IReadOnlyList<string> Arguments) NeighbourCommand(Scenario s, string baseUrl, int seconds)
    {
        var n = s.Neighbours ?? throw new InvalidOperationException($"{s.Name} has no neighbour load.");
        return (_wrk, [$"-t{Math.Min(_wrkThreads, n.Connections)}", $"-c{n.Connections}", $"-d{seconds}s", "--timeout", "10s", baseUrl + n.PathAndQuery]);
    }

    public static string Display(string fileName, IEnumerable<string> args) =>
        string.Join(' ', new[] { Path.GetFileName(fileName) }.Concat(args.Select(Quote)));

    public async Task<ClientResult> RunAsync(Scenario s, string baseUrl, int seconds, CancellationToken cancel, bool latency = true)
    {
        if (s.Client == LoadClient.MixedBlocking)
        {
            return await MixedBlockingClient.RunAsync(new Uri(baseUrl), s.Connections, TimeSpan.FromSeconds(seconds), cancel);
        }
        if (s.Neighbours is null)
        {
            return await RunCommandAsync(s, Command(s, baseUrl, seconds, latency), seconds, latency, cancel);
        }
        // Both wrk processes start together and run for the same time: the measured load shares the server with the
        // neighbours for the whole window. Both are awaited even when one fails, so neither outlives the run; the
        // measured one comes first so that its failure is the one reported when both fail.
        var neighbours = RunCommandAsync(s with { Client = LoadClient.Wrk }, NeighbourCommand(s, baseUrl, seconds), seconds, latency: false, cancel);
        var measured = RunCommandAsync(s, Command(s, baseUrl, seconds, latency), seconds, latency, cancel);
        try
        {
            await Task.WhenAll(measured, neighbours);
        }
        catch when (measured.IsCompletedSuccessfully && neighbours.IsFaulted)
        {
            throw new InvalidOperationException("the neighbour load failed: " + neighbours.Exception!.InnerException!.Message, neighbours.Exception.InnerException);
        }
        return (await measured) with { Neighbours = await neighbours };
    }

    private async Task<ClientResult> RunCommandAsync(Scenario s, (string FileName, IReadOnlyList<string> Arguments) command, int seconds, bool latency, CancellationToken cancel)
    {
        var (file, args) = command;
        File.Delete(H2loadLog);
        var output = await ProcessRunner.RunAsync(file, args, TimeSpan.FromSeconds(seconds + 60), cancel);
        if (output.TimedOut)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} did not finish within {seconds + 60} s.");
        }
        try
        {
            if (s.Client == LoadClient.Bombardier)
            {
                var b = BombardierOutputParser.Parse(output.Combined);
                return new ClientResult(b.TotalRequests, b.RequestsPerSecondAverage, b.ThroughputBytesPerSecond,
                    Positive(b.LatencyPercentileUs(50)), Positive(b.LatencyPercentileUs(99)), b.ErrorCount, seconds);
            }
            if (s.Client == LoadClient.H2load)
            {
                var h = H2loadOutputParser.Parse(output.Combined);
                var percentiles = latency && File.Exists(H2loadLog)
                    ? H2loadOutputParser.LatencyPercentilesUs(File.ReadLines(H2loadLog), 50, 99)
                    : new Dictionary<int, double>();
                File.Delete(H2loadLog);
                return new ClientResult(h.Requests, h.RequestsPerSecond, h.TransferBytesPerSecond,
                    Positive(percentiles.GetValueOrDefault(50)), Positive(percentiles.GetValueOrDefault(99)), h.Errors, h.DurationSeconds);
            }
            var w = WrkOutputParser.Parse(output.Combined);
            return new ClientResult(w.Requests, w.RequestsPerSecond, w.TransferBytesPerSecond,
                Positive(w.LatencyPercentileUs(50)), Positive(w.LatencyPercentileUs(99)), w.SocketErrors + w.Non2xx3xxResponses, w.DurationSeconds);
        }
        catch (FormatException e)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} exited with {output.ExitCode}: {e.Message}\n{output.Combined.Trim()}", e);
        }
    }

    /// <summary>wrk prints 0.00us for percentiles it has no samples for (e.g. under pipelining): that is "not measured".</summary>
    private static double? Positive(double? value) => value is > 0 ? value : null;

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_./:=,@%+".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
