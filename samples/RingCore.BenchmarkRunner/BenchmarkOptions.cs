using System.Globalization;
using RingCore.BenchmarkRunner.Model;

namespace RingCore.BenchmarkRunner;

public sealed record BenchmarkOptions
{
    public static readonly IReadOnlyList<string> KnownTransports = ["ringcore", "ringcore-threadpool", "ringcore-inline", "sockets"];

    /// <summary>
    /// What runs without --transports. ringcore-threadpool is left out: ThreadPool is the transport's default now, so
    /// it would measure ringcore twice; it stays a known name (older command lines, the batching grid).
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultTransports = ["ringcore", "ringcore-inline", "sockets"];

    public int Rounds { get; init; } = 3;
    public int DurationSeconds { get; init; } = 10;
    // 10 s: after 2 s of load the JIT still takes 11 % of the server's CPU in the measured window, after 10 s 2 %
    // (plaintext, 64 connections, perf record of the server); JIT in the window is noise for every transport.
    public int WarmupSeconds { get; init; } = 10;
    public IReadOnlyList<Scenario> Scenarios { get; init; } = Model.Scenarios.All;
    public IReadOnlyList<string> Transports { get; init; } = DefaultTransports;
    public string Baseline { get; init; } = "sockets";
    public string OutputPath { get; init; } = "docs/benchmarks.md";
    public bool Strace { get; init; } = true;
    public int StraceSeconds { get; init; } = 3;
    public int WrkThreads { get; init; } = 1;
    public int IdleConnections { get; init; } = 10_000;
    public string? ServerDll { get; init; }
    public string? BombardierPath { get; init; }
    public bool Help { get; init; }

    /// <summary>Start only when the 1-minute load average is at most this (and nothing else uses the CPU).</summary>
    public double MaxLoad { get; init; } = 0.5;

    /// <summary>How long to wait for a quiet machine at the start before refusing to run.</summary>
    public int StartQuietWaitSeconds { get; init; } = 180;

    /// <summary>How long to wait before each run for other processes to stop using the CPU.</summary>
    public int RoundQuietWaitSeconds { get; init; } = 30;

    /// <summary>Run on a busy machine anyway; the report then says in its first line that it is not valid.</summary>
    public bool AllowNoisy { get; init; }

    /// <summary>CompletionBatchWait values (µs) of the batching grid, or empty.</summary>
    public IReadOnlyList<int> BatchWaitGrid { get; init; } = [];

    public const string Usage = """
        RingCore.BenchmarkRunner: side-by-side HTTP benchmarks of RingCore and Kestrel Sockets, using samples/RingCore.SampleApp.
        Usage: bash samples/run-benchmarks.sh [options]     (or: dotnet RingCore.BenchmarkRunner.dll [options])

          --rounds N            rounds per scenario; each round runs every transport once (default 3)
          --duration S          seconds measured per run (default 10)
          --warmup S            seconds of warm-up load per run, not measured (default 10: tiered JIT settles)
          --scenarios a,b,...   plaintext8, plaintext64, plaintext1024, pipelined, json64, proxy64, churn1, churn10,
                                https64, h2c, h2c4x16, h2c1x64, download, upload, idle10k, plaintext64-bombardier,
                                sleep1ms, blocking-neighbours, mixed-blocking, or all (default all). proxy64 drives samples/RingCore.ProxySample (ringcore or sockets
                                on both sides; other transports are skipped) in front of the sample app on Sockets
                                (--server-dll replaces that backend, not the proxy). The blocking workloads:
                                sleep1ms (every request Thread.Sleep(1)), blocking-neighbours (plaintext beside 4
                                connections on /sleep?ms=5), mixed-blocking (the runner's own checked mix, 1 in 4
                                requests blocking); keep --warmup at 6 or more there, so the thread pool has grown
          --transports a,b,...  ringcore (the transport's defaults: handlers on the thread pool), ringcore-inline
                                (UnsafeInline), sockets (default: these three, in that order), or ringcore-threadpool
                                (ThreadPool set explicitly, as the default); a RingCore transport may carry
                                sample-app settings: ringcore@batch-wait-us=100+rings=1
          --batch-wait-grid a,b,...  CompletionBatchWait values in µs (e.g. 0,100,250,500,1000): runs plaintext8/64/1024
                                with ringcore-threadpool@batch-wait-us=V for each value, and sockets as the
                                baseline
          --max-load L          refuse to start while the 1-minute load average is above L (default 0.5)
          --quiet-wait S        seconds to wait for a quiet machine before refusing (default 180)
          --round-quiet-wait S  seconds to wait before each run for the CPU to be idle (default 30)
          --allow-noisy         run anyway on a busy machine; the report's first line then says it is NOT VALID
          --baseline NAME       the transport ratios are taken against (default sockets)
          --out PATH            Markdown report (default docs/benchmarks.md)
          --strace / --no-strace  strace -c -f cross-check of plaintext64, one run per transport (default on)
          --strace-duration S   seconds of that run (default 3)
          --wrk-threads N       wrk -t (default 1)
          --idle-connections N  connections idle10k opens (default 10000)
          --server-dll PATH     the sample app dll (default samples/RingCore.SampleApp/bin/Release/net10.0/RingCore.SampleApp.dll)
          --bombardier PATH     the bombardier (codesenberg/bombardier HTTP load tool) binary (default: bombardier on PATH)
          --help
        """;

    /// <summary>Parses the command line; returns an error message instead of options when it is wrong.</summary>
    public static (BenchmarkOptions? Options, string? Error) Parse(IReadOnlyList<string> args)
    {
        var o = new BenchmarkOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string? inlineValue = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inlineValue = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string? Value()
            {
                if (inlineValue is not null)
                {
                    return inlineValue;
                }
                return i + 1 < args.Count ? args[++i] : null;
            }
            int? PositiveInt()
            {
                string? v = Value();
                return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : null;
            }

            switch (arg)
            {
                case "--help" or "-h":
                    o = o with { Help = true };
                    break;
                case "--rounds":
                    if (PositiveInt() is not int rounds) return (null, "--rounds needs a positive integer.");
                    o = o with { Rounds = rounds };
                    break;
                case "--duration":
                    if (PositiveInt() is not int duration) return (null, "--duration needs a positive number of seconds.");
                    o = o with { DurationSeconds = duration };
                    break;
                case "--warmup":
                    {
                        string? v = Value();
                        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int warmup) || warmup < 0)
                        {
                            return (null, "--warmup needs a number of seconds (0 or more).");
                        }
                        o = o with { WarmupSeconds = warmup };
                        break;
                    }
                case "--scenarios":
                    {
                        var list = new List<Scenario>();
                        foreach (string name in SplitList(Value()))
                        {
                            if (name.Equals("all", StringComparison.OrdinalIgnoreCase))
                            {
                                list.AddRange(Model.Scenarios.All);
                            }
                            else if (Model.Scenarios.Find(name) is Scenario s)
                            {
                                list.Add(s);
                            }
                            else
                            {
                                return (null, $"Unknown scenario '{name}'. Known: {string.Join(", ", Model.Scenarios.All.Select(x => x.Name))}.");
                            }
                        }
                        if (list.Count == 0) return (null, "--scenarios needs at least one scenario.");
                        o = o with { Scenarios = list.Distinct().ToList() };
                        break;
                    }
                case "--transports":
                    {
                        var list = SplitList(Value()).Select(t => t.ToLowerInvariant()).Distinct().ToList();
                        if (list.Count == 0) return (null, "--transports needs at least one transport.");
                        if (list.FirstOrDefault(t => !IsKnownTransport(t)) is string unknown)
                        {
                            return (null, $"Unknown transport '{unknown}'. Known: {string.Join(", ", KnownTransports)}.");
                        }
                        o = o with { Transports = list };
                        break;
                    }
                case "--baseline":
                    o = o with { Baseline = Value() ?? "sockets" };
                    break;
                case "--out":
                    if (Value() is not string output || output.Length == 0) return (null, "--out needs a path.");
                    o = o with { OutputPath = output };
                    break;
                case "--strace":
                    o = o with { Strace = true };
                    break;
                case "--no-strace":
                    o = o with { Strace = false };
                    break;
                case "--strace-duration":
                    if (PositiveInt() is not int straceSeconds) return (null, "--strace-duration needs a positive number of seconds.");
                    o = o with { StraceSeconds = straceSeconds };
                    break;
                case "--wrk-threads":
                    if (PositiveInt() is not int threads) return (null, "--wrk-threads needs a positive integer.");
                    o = o with { WrkThreads = threads };
                    break;
                case "--idle-connections":
                    if (PositiveInt() is not int idle) return (null, "--idle-connections needs a positive integer.");
                    o = o with { IdleConnections = idle };
                    break;
                case "--server-dll":
                    o = o with { ServerDll = Value() };
                    break;
                case "--bombardier":
                    o = o with { BombardierPath = Value() };
                    break;
                case "--max-load":
                    {
                        string? v = Value();
                        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double maxLoad) || maxLoad < 0)
                        {
                            return (null, "--max-load needs a load average (0 or more).");
                        }
                        o = o with { MaxLoad = maxLoad };
                        break;
                    }
                case "--quiet-wait":
                    if (PositiveInt() is not int quietWait) return (null, "--quiet-wait needs a positive number of seconds.");
                    o = o with { StartQuietWaitSeconds = quietWait };
                    break;
                case "--round-quiet-wait":
                    if (PositiveInt() is not int roundWait) return (null, "--round-quiet-wait needs a positive number of seconds.");
                    o = o with { RoundQuietWaitSeconds = roundWait };
                    break;
                case "--allow-noisy":
                    o = o with { AllowNoisy = true };
                    break;
                case "--batch-wait-grid":
                    {
                        var waits = new List<int>();
                        foreach (string item in SplitList(Value()))
                        {
                            if (!int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int us) || us < 0 || us > 10_000)
                            {
                                return (null, $"--batch-wait-grid: '{item}' is not a number of microseconds from 0 to 10000.");
                            }
                            waits.Add(us);
                        }
                        if (waits.Count == 0) return (null, "--batch-wait-grid needs at least one value.");
                        o = o with
                        {
                            BatchWaitGrid = waits.Distinct().ToList(),
                            Scenarios = Model.Scenarios.BatchWaitGrid,
                            // Only DEFER_TASKRUN rings batch; the default's (COOP_TASKRUN) rings ignore the setting.
                            Transports = [.. waits.Distinct().Select(w => $"ringcore-threadpool@batch-wait-us={w}"), "sockets"],
                            Baseline = "sockets",
                            OutputPath = o.OutputPath == "docs/benchmarks.md" ? "docs/batching-grid.md" : o.OutputPath,
                        };
                        break;
                    }
                default:
                    return (null, $"Unknown option '{args[i]}'. Try --help.");
            }
        }
        return (o, null);
    }

    /// <summary>A known transport, or a RingCore one with settings (ringcore@name=value+name=value).</summary>
    private static bool IsKnownTransport(string transport)
    {
        int at = transport.IndexOf('@', StringComparison.Ordinal);
        if (at < 0)
        {
            return KnownTransports.Contains(transport);
        }
        string name = transport[..at];
        return name.StartsWith("ringcore", StringComparison.Ordinal) && KnownTransports.Contains(name)
            && transport[(at + 1)..].Split('+').All(p => System.Text.RegularExpressions.Regex.IsMatch(p, "^[a-z-]+=[0-9]+$"));
    }

    private static IEnumerable<string> SplitList(string? value) =>
        (value ?? "").Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
