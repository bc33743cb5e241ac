using System.Globalization;
using System.Text;
using RingCore.BenchmarkRunner.Model;

namespace RingCore.BenchmarkRunner.Reporting;

/// <summary>
/// Turns runs into medians, ratios and Markdown. Pure: no clock, no processes, no files — everything comes in
/// through the arguments.
/// </summary>
public static class MarkdownReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>One row per (scenario, transport) that has runs, in the given scenario and transport order.</summary>
    public static IReadOnlyList<SummaryRow> Summarize(
        IEnumerable<Scenario> scenarios, IEnumerable<string> transports, IEnumerable<RunMetrics> runs, string baseline = "sockets")
    {
        var all = runs.ToList();
        var transportList = transports.ToList();
        var rows = new List<SummaryRow>();
        foreach (var scenario in scenarios)
        {
            var byTransport = transportList
                .Select(t => (Transport: t, Runs: all.Where(r => r.Scenario == scenario.Name && r.Transport == t).ToList()))
                .Where(x => x.Runs.Count > 0)
                .ToList();
            var medians = byTransport.ToDictionary(x => x.Transport, x => Medians(scenario, x.Runs), StringComparer.Ordinal);
            medians.TryGetValue(baseline, out var b);
            foreach (var (transport, transportRuns) in byTransport)
            {
                var m = medians[transport];
                bool isBaseline = transport == baseline;
                rows.Add(m with
                {
                    Transport = transport,
                    IsBaseline = isBaseline,
                    Runs = transportRuns.Count(r => !r.Failed),
                    FailedRuns = transportRuns.Count(r => r.Failed),
                    PrimaryRatio = isBaseline ? null : Statistics.Ratio(m.Primary, b?.Primary),
                    P99Ratio = isBaseline ? null : Statistics.Ratio(m.P99Us, b?.P99Us),
                    RssBytesPerConnectionRatio = isBaseline ? null : Statistics.Ratio(m.RssBytesPerConnection, b?.RssBytesPerConnection),
                    ErrorsAllRounds = transportRuns.Sum(r => r.Errors),
                    WrongBytesAllRounds = transportRuns.Any(r => r.WrongBytes.HasValue) ? transportRuns.Sum(r => r.WrongBytes ?? 0) : null,
                    Mix = transportRuns.FirstOrDefault(r => !r.Failed && r.Mix is not null)?.Mix,
                });
            }
        }
        return rows;
    }

    private static SummaryRow Medians(Scenario scenario, List<RunMetrics> runs)
    {
        var ok = runs.Where(r => !r.Failed).ToList();
        double? M(Func<RunMetrics, double?> f) => Statistics.Median(ok.Select(f));
        return new SummaryRow
        {
            Scenario = scenario,
            Transport = "",
            IsBaseline = false,
            Primary = scenario.Throughput == Throughput.Bytes ? M(r => r.PayloadBytesPerSecond) : M(r => r.RequestsPerSecond),
            RequestsPerSecond = M(r => r.RequestsPerSecond),
            TransferBytesPerSecond = M(r => r.TransferBytesPerSecond),
            P50Us = M(r => r.P50Us),
            P99Us = M(r => r.P99Us),
            CpuSecondsPer100kRequests = M(r => r.CpuSecondsPer100kRequests),
            PeakRssBytes = M(r => r.PeakRssBytes),
            SyscallsPerRequest = M(r => r.SyscallsPerRequest),
            ContextSwitchesPerRequest = M(r => r.ContextSwitchesPerRequest),
            IdleConnectionsOpened = M(r => r.IdleConnectionsOpened),
            RssBeforeBytes = M(r => r.RssBeforeBytes),
            RssAfterBytes = M(r => r.RssAfterBytes),
            RssBytesPerConnection = M(r => r.RssBytesPerConnection),
            IdleCpuPercent = M(r => r.IdleCpuPercent),
            NeighbourRequestsPerSecond = M(r => r.NeighbourRequestsPerSecond),
        };
    }

    /// <summary>The main table: every load scenario (not the idle-connections one).</summary>
    public static string ResultsTable(IReadOnlyList<SummaryRow> rows, string baseline = "sockets")
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"| scenario | transport | runs | throughput (median) | × {baseline} | req/s | transfer MB/s | p50 ms | p99 ms | p99 × {baseline} | CPU s / 100k req | peak RSS MiB | syscalls / req | context switches / req | errors (all runs) |\n");
        sb.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in rows.Where(r => r.Scenario.Client != LoadClient.IdleConnections))
        {
            string primary = r.Primary is null ? "n/a"
                : r.Scenario.Throughput == Throughput.Bytes ? $"{Fmt(r.Primary / 1e9, "F2")} GB/s" : $"{Fmt(r.Primary, "N0")} req/s";
            sb.Append(CultureInfo.InvariantCulture,
                $"| {r.Scenario.Title} | {r.Transport} | {RunsCell(r)} | {primary} | {RatioCell(r.IsBaseline, r.PrimaryRatio)} | {Fmt(r.RequestsPerSecond, "N0")} | {Fmt(r.TransferBytesPerSecond / 1e6, "F1")} | {Fmt(r.P50Us / 1000, "F2")} | {Fmt(r.P99Us / 1000, "F2")} | {RatioCell(r.IsBaseline, r.P99Ratio)} | {Fmt(r.CpuSecondsPer100kRequests, "F2")} | {Fmt(r.PeakRssBytes / 1048576, "F0")} | {Fmt(r.SyscallsPerRequest, "F2")} | {Fmt(r.ContextSwitchesPerRequest, "F2")} | {r.ErrorsAllRounds.ToString("N0", Inv)} |\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// The blocking workloads again, with what the main table leaves out: the neighbours' own rate, the mixed
    /// client's failed requests and wrong bytes (both must be 0), and what the mix consisted of.
    /// </summary>
    public static string BlockingTable(IReadOnlyList<SummaryRow> rows, string baseline = "sockets")
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"| scenario | transport | runs | completed req/s (median) | × {baseline} | p99 ms | neighbours' req/s (median) | failed requests (all runs) | wrong bytes (all runs) | completed by kind (first run) |\n");
        sb.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        foreach (var r in rows.Where(r => r.Scenario.Blocking))
        {
            string wrong = r.WrongBytesAllRounds is long w ? w.ToString("N0", Inv) : "not checked";
            sb.Append(CultureInfo.InvariantCulture,
                $"| {r.Scenario.Title} | {r.Transport} | {RunsCell(r)} | {Fmt(r.Primary, "N0")} | {RatioCell(r.IsBaseline, r.PrimaryRatio)} | {Fmt(r.P99Us / 1000, "F2")} | {Fmt(r.NeighbourRequestsPerSecond, "N0")} | {r.ErrorsAllRounds.ToString("N0", Inv)} | {wrong} | {Escape(r.Mix ?? "")} |\n");
        }
        return sb.ToString();
    }

    public static string IdleTable(IReadOnlyList<SummaryRow> rows, string baseline = "sockets")
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"| transport | runs | connections held | RSS before MiB | RSS after MiB | RSS bytes / connection | × {baseline} | server CPU % while idle |\n");
        sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in rows.Where(r => r.Scenario.Client == LoadClient.IdleConnections))
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"| {r.Transport} | {RunsCell(r)} | {Fmt(r.IdleConnectionsOpened, "N0")} | {Fmt(r.RssBeforeBytes / 1048576, "F1")} | {Fmt(r.RssAfterBytes / 1048576, "F1")} | {Fmt(r.RssBytesPerConnection, "N0")} | {RatioCell(r.IsBaseline, r.RssBytesPerConnectionRatio)} | {Fmt(r.IdleCpuPercent, "F1")} |\n");
        }
        return sb.ToString();
    }

    public static string StraceTable(IReadOnlyList<StraceCheck> checks, IReadOnlyList<SummaryRow> rows)
    {
        var sb = new StringBuilder();
        sb.Append("| transport | requests (under strace) | syscalls | syscalls / req (strace) | syscalls / req (/_stats, plaintext 64 median) | top syscalls (calls / req) |\n");
        sb.Append("|---|---:|---:|---:|---:|---|\n");
        foreach (var c in checks)
        {
            var fromStats = rows.FirstOrDefault(r => r.Scenario.Name == Scenarios.Plaintext64.Name && r.Transport == c.Transport)?.SyscallsPerRequest;
            string top = c.Error is not null ? "failed: " + Escape(c.Error)
                : string.Join(", ", c.TopSyscalls.Select(s => $"{s.Name} {(c.Requests > 0 ? ((double)s.Calls / c.Requests).ToString("F2", Inv) : "n/a")}"));
            sb.Append(CultureInfo.InvariantCulture,
                $"| {c.Transport} | {c.Requests.ToString("N0", Inv)} | {c.TotalSyscalls.ToString("N0", Inv)} | {Fmt(c.SyscallsPerRequest, "F2")} | {Fmt(fromStats, "F2")} | {top} |\n");
        }
        return sb.ToString();
    }

    /// <summary>Every run's headline number and p99, so the spread behind each median is visible.</summary>
    public static string PerRoundTable(IReadOnlyList<Scenario> scenarios, IReadOnlyList<string> transports, IReadOnlyList<RunMetrics> runs)
    {
        var sb = new StringBuilder();
        sb.Append("| scenario | transport | per round: throughput | per round: p99 ms (or RSS bytes / connection) | per round: load average before / CPU busy % before / steal % during |\n");
        sb.Append("|---|---|---|---|---|\n");
        foreach (var s in scenarios)
        {
            foreach (var t in transports)
            {
                var rs = runs.Where(r => r.Scenario == s.Name && r.Transport == t).OrderBy(r => r.Round).ToList();
                if (rs.Count == 0)
                {
                    continue;
                }
                string first, second;
                if (s.Client == LoadClient.IdleConnections)
                {
                    first = string.Join(" / ", rs.Select(r => r.Failed ? "failed" : $"{Fmt(r.IdleConnectionsOpened, "N0")} conns"));
                    second = string.Join(" / ", rs.Select(r => r.Failed ? "failed" : Fmt(r.RssBytesPerConnection, "N0")));
                }
                else
                {
                    first = string.Join(" / ", rs.Select(r => r.Failed ? "failed"
                        : s.Throughput == Throughput.Bytes ? Fmt(r.PayloadBytesPerSecond / 1e9, "F2") : Fmt(r.RequestsPerSecond, "N0")));
                    second = string.Join(" / ", rs.Select(r => r.Failed ? "failed" : Fmt(r.P99Us / 1000, "F2")));
                }
                string machine = string.Join(" / ", rs.Select(r => $"{Fmt(r.LoadAverageBefore, "F2")}, {Fmt(r.BusyBeforePercent, "F0")}%, {Fmt(r.StealPercent, "F1")}%"));
                sb.Append(CultureInfo.InvariantCulture, $"| {s.Title} | {t} | {first} | {second} | {machine} |\n");
            }
        }
        return sb.ToString();
    }

    /// <summary>The whole docs/benchmarks.md.</summary>
    public static string Document(ReportContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var rows = Summarize(ctx.Scenarios, ctx.Transports, ctx.Runs, ctx.Baseline);
        var m = ctx.Machine;
        var sb = new StringBuilder();
        if (ctx.Invalid.Count > 0)
        {
            sb.Append("**NOT VALID: the machine was not quiet** (").Append(Escape(string.Join("; ", ctx.Invalid))).Append("). Do not quote these numbers.\n\n");
        }
        sb.Append("# RingCore.Transport benchmarks: RingCore vs Kestrel Sockets\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"Generated by `samples/RingCore.BenchmarkRunner` on {ctx.Started.UtcDateTime.ToString("yyyy-MM-dd HH:mm", Inv)} UTC");
        if (ctx.Finished is DateTimeOffset finished)
        {
            sb.Append(CultureInfo.InvariantCulture, $" (took {(finished - ctx.Started).TotalMinutes.ToString("F1", Inv)} min)");
        }
        sb.Append(". Reproduce with `bash samples/run-benchmarks.sh`.\n\n");

        sb.Append("## Machine\n\n| | |\n|---|---|\n");
        sb.Append(CultureInfo.InvariantCulture, $"| cores (Environment.ProcessorCount) | {m.Cores} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| CPU | {Escape(m.CpuModel)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| memory | {Escape(m.Memory)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| kernel (uname -r) | {Escape(m.Kernel)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| Environment.OSVersion | {Escape(m.OsVersion)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| .NET | {Escape(m.DotNet)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| wrk | {Escape(m.Wrk)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| bombardier | {Escape(m.Bombardier)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| strace | {Escape(m.Strace)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| kernel.io_uring_disabled | {Escape(m.IoUringDisabled)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| RLIMIT_NOFILE (runner and servers) | {Escape(m.OpenFilesLimit)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| load average at start / end (1, 5, 15 min) | {Escape(m.LoadAverageAtStart)} / {Escape(m.LoadAverageAtEnd)} |\n\n");

        sb.Append("## Commands\n\n");
        sb.Append("Runner (from the repository root):\n\n```\n").Append(ctx.RunnerCommandLine).Append("\n```\n\n");
        if (ctx.ServerCommand.Length > 0)
        {
            sb.Append("Servers, one per transport, all up for a scenario's rounds (PORT is a free loopback port, TRANSPORT one of ")
              .Append(string.Join(", ", ctx.Transports)).Append("):\n\n```\n").Append(ctx.ServerCommand).Append("\n```\n\n");
        }
        if (ctx.ClientCommands.Count > 0)
        {
            sb.Append("Load clients (the warm-up runs the same command with the warm-up duration):\n\n```\n");
            foreach (var (scenario, command) in ctx.ClientCommands)
            {
                sb.Append(scenario).Append(": ").Append(command).Append('\n');
            }
            sb.Append("```\n\n");
        }
        if (ctx.StraceCommand is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"strace cross-check (one run per transport on a fresh server, after a {ctx.WarmupSeconds} s warm-up without strace):\n\n```\n").Append(ctx.StraceCommand).Append("\n```\n\n");
        }
        foreach (var (name, content) in ctx.Scripts)
        {
            sb.Append(name).Append(":\n\n```lua\n").Append(content.TrimEnd()).Append("\n```\n\n");
        }

        sb.Append("## Method\n\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"- For each scenario the runner runs {ctx.Rounds} round(s); each round runs every transport once, in the order {string.Join(" → ", ctx.Transports)} in odd rounds and the reverse in even ones (A/B/C/C/B/A…), so neither a transport's place in a round nor slow drift of the machine favours one.\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"- Before a scenario's first round the runner starts one server process per transport (Release build of samples/RingCore.SampleApp), each on a free port on 127.0.0.1, and keeps them all up until its last round (the proxy and idle-connection scenarios start theirs per run); each run warms its server up for {ctx.WarmupSeconds} s with the same load, then measures for {ctx.DurationSeconds} s. Peak RSS is the server's since it started.\n");
        sb.Append("- Quiet machine: the runner starts only when the 1-minute load average is at most --max-load (0.5) and the CPU is idle, and refuses otherwise; before every run it waits until other processes leave the CPU idle (under 5 % busy over one second). The per-round table records the load average and CPU busy share before each run and the hypervisor's steal during it; a run that had to start on a busy machine makes the whole report NOT VALID (first line).\n");
        sb.Append("- HTTP/2 scenarios use h2load (h2c with prior knowledge, the server's endpoint set to HTTP/2 only); their p50/p99 come from h2load's per-request log. HTTPS uses a self-signed ECDSA P-256 certificate made for the session. Churn scenarios send `Connection: close` on every 1st or 10th request, so wrk reconnects.\n");
        sb.Append(CultureInfo.InvariantCulture, $"- The client (wrk -t{ctx.WrkThreads}) and the server share this machine's {ctx.Machine.Cores} cores, so absolute numbers are lower than on separate machines; the ratios are what to compare.\n");
        sb.Append("- Each cell is the **median over the rounds** of that metric (the mean of the middle two for an even count). Ratios are median(RingCore variant) / median(" + ctx.Baseline + "): above 1 is better for throughput, below 1 is better for p99 and bytes per connection.\n");
        sb.Append("- throughput: requests/s from the client's report; for download/upload scenarios payload GB/s (10⁹ bytes/s): downloads use wrk's Transfer/sec (bytes read), uploads requests/s × body size. transfer MB/s: what the client read, in 10⁶ bytes/s.\n");
        sb.Append("- p50 / p99: wrk --latency (bombardier -l). With pipelining, wrk times a whole batch of 16 requests and its percentiles are unreliable (p99 may read 0, shown as n/a).\n");
        sb.Append("- CPU s / 100k req: the server's utime + stime (/proc/PID/stat, ÷ clock ticks per second) during the measured window, per 100,000 requests.\n");
        sb.Append("- peak RSS: VmHWM from /proc/PID/status at the end of the run (includes the warm-up).\n");
        sb.Append("- syscalls / req: the delta of the `syscalls` counter of GET /_stats over the measured window ÷ requests; n/a when the server does not report it (Kestrel Sockets). The strace table cross-checks it with `strace -c -f` (strace slows the server a lot, so only its per-request counts are meaningful, not its throughput).\n");
        sb.Append("- context switches / req: voluntary and involuntary context switches of all the server's threads (summed over /proc/PID/task/*/status) over the measured window ÷ requests, for every transport. A thread-pool hop per request shows here as about one switch (a worker wakes) or more; a server that handles requests on the thread that received them stays far below one.\n");
        if (ctx.Scenarios.Any(s => s.Blocking))
        {
            sb.Append("- blocking workloads: handlers that hold their thread, as synchronous database calls and synchronous body reads do. "
                + "`sleep1ms`: every request runs Thread.Sleep(1) (GET /sleep?ms=1). `blocking-neighbours`: a second wrk keeps 4 connections on GET /sleep?ms=5 "
                + "for the whole run while 64 others GET /plaintext; the headline is the plaintext rate, the neighbours' rate is in the blocking table, and "
                + "CPU, syscalls and context switches per request count the neighbours' requests too. `mixed-blocking`: the runner's own client "
                + "(64 keep-alive raw-socket connections, fixed-seed sequences) mixes uploads, downloads, echoes, pipelined GETs and, one request in four, "
                + "GET /sleep?ms=1..40 or POST /echo-sync (a synchronous body read); every answer is checked byte for byte and the headline counts only correct "
                + "ones. A thread pool needs time to grow for blocked threads: keep the warm-up at 6 s or more (the default 10 s) so the measured window "
                + "shows the adapted server. ringcore-inline (UnsafeInline) is expected to stall in mixed-blocking: a synchronous body read waits for the "
                + "ring thread it is holding, so that ring's connections get no answers (failed requests after the client's 10 s timeout), by design of that mode.\n");
        }
        sb.Append("- idle connections: the runner opens the connections itself, sends one GET /plaintext on each, reads the answer and keeps them open; bytes per connection = (VmRSS after − VmRSS before) ÷ connections held. Server CPU % while idle is measured over the run duration with all connections open.\n\n");

        sb.Append("## Results\n\n");
        if (rows.Any(r => r.Scenario.Client != LoadClient.IdleConnections))
        {
            sb.Append(ResultsTable(rows, ctx.Baseline)).Append('\n');
        }
        if (rows.Any(r => r.Scenario.Blocking))
        {
            sb.Append("### Blocking workloads\n\n").Append(BlockingTable(rows, ctx.Baseline)).Append('\n');
        }
        if (rows.Any(r => r.Scenario.Client == LoadClient.IdleConnections))
        {
            sb.Append("### Idle keep-alive connections\n\n").Append(IdleTable(rows, ctx.Baseline)).Append('\n');
        }
        if (ctx.StraceChecks.Count > 0)
        {
            sb.Append("### strace cross-check (plaintext, 64 connections)\n\n").Append(StraceTable(ctx.StraceChecks, rows)).Append('\n');
        }
        if (ctx.Runs.Count > 0)
        {
            sb.Append("### Every round\n\n").Append(PerRoundTable(ctx.Scenarios, ctx.Transports, ctx.Runs)).Append('\n');
        }
        var notes = ctx.Notes.Concat(ctx.Runs.Where(r => r.Note is not null).Select(r => $"{r.Scenario} / {r.Transport} / round {r.Round}: {r.Note}")).ToList();
        if (notes.Count > 0)
        {
            sb.Append("## Notes\n\n");
            foreach (var note in notes)
            {
                sb.Append("- ").Append(note).Append('\n');
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static string RunsCell(SummaryRow r) => r.FailedRuns == 0 ? r.Runs.ToString(Inv) : $"{r.Runs} (+{r.FailedRuns} failed)";

    private static string RatioCell(bool isBaseline, double? ratio) => isBaseline ? "baseline" : ratio is double v ? v.ToString("F2", Inv) + "×" : "n/a";

    private static string Fmt(double? value, string format) => value is double v && double.IsFinite(v) ? v.ToString(format, Inv) : "n/a";

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
