using System.Globalization;
using RingCore.BenchmarkRunner.Model;

namespace RingCore.BenchmarkRunner;

public sealed record BenchmarkOptions
{
    public static readonly IReadOnlyList<string> KnownTransports = ["ringcore", "ringcore-inline", "sockets"];

    public int Rounds { get; init; } = 3;
    public int DurationSeconds { get; init; } = 10;
    public int WarmupSeconds { get; init; } = 3;
    public IReadOnlyList<Scenario> Scenarios { get; init; } = Model.Scenarios.All;
    public IReadOnlyList<string> Transports { get; init; } = KnownTransports;
    public string Baseline { get; init; } = "sockets";
    public string OutputPath { get; init; } = "docs/benchmarks.md";
    public bool Strace { get; init; } = true;
    public int StraceSeconds { get; init; } = 3;
    public int WrkThreads { get; init; } = 1;
    public int IdleConnections { get; init; } = 10_000;
    public string? ServerDll { get; init; }
    public string? BombardierPath { get; init; }
    public bool Help { get; init; }

    public const string Usage = """
        RingCore.BenchmarkRunner: side-by-side HTTP benchmarks of RingCore and Kestrel Sockets, using samples/RingCore.SampleApp.
        Usage: bash samples/run-benchmarks.sh [options]     (or: dotnet RingCore.BenchmarkRunner.dll [options])

          --rounds N            rounds per scenario; each round runs every transport once (default 3)
          --duration S          seconds measured per run (default 10)
          --warmup S            seconds of warm-up load per run, not measured (default 3)
          --scenarios a,b,...   plaintext64, plaintext1024, pipelined, json64, download, upload, idle10k,
                                plaintext64-bombardier, or all (default all)
          --transports a,b,...  ringcore, ringcore-inline, sockets (default: all three, in that order)
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
                        if (list.FirstOrDefault(t => !KnownTransports.Contains(t)) is string unknown)
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
                default:
                    return (null, $"Unknown option '{args[i]}'. Try --help.");
            }
        }
        return (o, null);
    }

    private static IEnumerable<string> SplitList(string? value) =>
        (value ?? "").Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
