using RingCore.BenchmarkRunner;
using RingCore.BenchmarkRunner.Execution;
using RingCore.BenchmarkRunner.Model;
using RingCore.BenchmarkRunner.Parsing;
using RingCore.BenchmarkRunner.Reporting;

namespace RingCore.Transport.Tests.Benchmarks;

/// <summary>
/// The benchmark runner's pure parts: parsers fed with output captured on the development machine (2 cores,
/// kernel 6.18, wrk 4.1.0 [epoll], strace 6.1), the medians/ratios of the Markdown report and the client command
/// lines. Nothing here starts a process.
/// </summary>
public sealed class BenchmarkParsingTests
{
    private const double MiB = 1024 * 1024;

    // ---- wrk ----

    [Fact]
    public void WrkLatencyReportIsParsedWithUnits()
    {
        var r = WrkOutputParser.Parse(Captured.WrkPlaintextLatency);

        Assert.Equal(1, r.Threads);
        Assert.Equal(64, r.Connections);
        Assert.Equal(2590, r.LatencyAverageUs, 6);
        Assert.Equal(1930, r.LatencyStdevUs, 6);
        Assert.Equal(17720, r.LatencyMaxUs, 6);
        Assert.Equal(2080, r.LatencyPercentileUs(50)!.Value, 6);
        Assert.Equal(3330, r.LatencyPercentileUs(75)!.Value, 6);
        Assert.Equal(4860, r.LatencyPercentileUs(90)!.Value, 6);
        Assert.Equal(10280, r.LatencyPercentileUs(99)!.Value, 6);
        Assert.Equal(43473, r.Requests);
        Assert.Equal(2.02, r.DurationSeconds, 6);
        Assert.Equal(5.47 * MiB, r.BytesRead, 3);
        Assert.Equal(21574.09, r.RequestsPerSecond, 6);
        Assert.Equal(2.72 * MiB, r.TransferBytesPerSecond, 3);
        Assert.Equal(0, r.SocketErrors);
        Assert.Equal(0, r.Non2xx3xxResponses);
    }

    [Fact]
    public void WrkPipelinedReportKeepsTheZeroP99ItPrints()
    {
        var r = WrkOutputParser.Parse(Captured.WrkPipelined);

        Assert.Equal(317213, r.Requests);
        Assert.Equal(154925.70, r.RequestsPerSecond, 6);
        Assert.Equal(3270, r.LatencyPercentileUs(50)!.Value, 6);
        Assert.Equal(0, r.LatencyPercentileUs(99)!.Value);
        Assert.Equal(19.50 * MiB, r.TransferBytesPerSecond, 3);
    }

    [Fact]
    public void WrkDownloadReportReadsGigabytesAndMegabytesPerSecond()
    {
        var r = WrkOutputParser.Parse(Captured.WrkDownload);

        Assert.Equal(16, r.Connections);
        Assert.Equal(1020, r.Requests);
        Assert.Equal(1024 * MiB, r.BytesRead, 3);
        Assert.Equal(507.27, r.RequestsPerSecond, 6);
        Assert.Equal(510.42 * MiB, r.TransferBytesPerSecond, 3);
        Assert.Equal(92710, r.LatencyPercentileUs(99)!.Value, 6);
    }

    [Fact]
    public void WrkLatenciesInSecondsAreParsed()
    {
        var r = WrkOutputParser.Parse(Captured.WrkSecondsLatency);

        Assert.Equal(3_610_000, r.LatencyAverageUs, 3);
        Assert.Equal(18_160, r.LatencyStdevUs, 3);
        Assert.Equal(3_640_000, r.LatencyMaxUs, 3);
        Assert.Equal(3_620_000, r.LatencyPercentileUs(50)!.Value, 3);
        Assert.Equal(3_640_000, r.LatencyPercentileUs(99)!.Value, 3);
        Assert.Equal(9, r.Requests);
        Assert.Equal(3.69, r.DurationSeconds, 6);
        Assert.Equal(669.58 * MiB, r.BytesRead, 3);
        Assert.Equal(2.44, r.RequestsPerSecond, 6);
    }

    [Fact]
    public void WrkUploadReportReadsKilobytes()
    {
        var r = WrkOutputParser.Parse(Captured.WrkUpload);

        Assert.Equal(646, r.Requests);
        Assert.Equal(129.96 * 1024, r.BytesRead, 3);
        Assert.Equal(62.58 * 1024, r.TransferBytesPerSecond, 3);
        Assert.Equal(311.08, r.RequestsPerSecond, 6);
        Assert.Equal(38720, r.LatencyPercentileUs(50)!.Value, 6);
    }

    [Fact]
    public void WrkSocketErrorsAndNanStdevAreParsed()
    {
        var r = WrkOutputParser.Parse(Captured.WrkTimeouts);

        Assert.Equal(0, r.ConnectErrors);
        Assert.Equal(0, r.ReadErrors);
        Assert.Equal(0, r.WriteErrors);
        Assert.Equal(10, r.TimeoutErrors);
        Assert.Equal(10, r.SocketErrors);
        Assert.Equal(0, r.LatencyAverageUs);
        Assert.Equal(0, r.LatencyPercentileUs(99)!.Value);
        Assert.Equal(325.51 * MiB, r.BytesRead, 3);
    }

    [Fact]
    public void WrkNon2xxResponsesAndMicrosecondPercentilesAreParsed()
    {
        var r = WrkOutputParser.Parse(Captured.WrkNon2xx);

        Assert.Equal(17145, r.Non2xx3xxResponses);
        Assert.Equal(17145, r.Requests);
        Assert.Equal(250, r.LatencyPercentileUs(50)!.Value, 6);
        Assert.Equal(33290, r.LatencyPercentileUs(99)!.Value, 6);
        Assert.Equal(1.62 * MiB, r.TransferBytesPerSecond, 3);
    }

    [Fact]
    public void WrkWithoutLatencyFlagHasNoPercentiles()
    {
        var r = WrkOutputParser.Parse(Captured.WrkNoLatency);

        Assert.Empty(r.LatencyPercentilesUs);
        Assert.Null(r.LatencyPercentileUs(99));
        Assert.Equal(32060, r.LatencyAverageUs, 6);
        Assert.Equal(4592, r.Requests);
        Assert.Equal(591.94 * 1024, r.BytesRead, 3);
        Assert.Equal(295.03 * 1024, r.TransferBytesPerSecond, 3);
    }

    [Fact]
    public void WrkFailuresAreFormatErrors()
    {
        Assert.Throws<FormatException>(() => WrkOutputParser.Parse("unable to connect to 127.0.0.1:5199 Connection refused\n"));
        Assert.Throws<FormatException>(() => WrkOutputParser.Parse("Usage: wrk <options> <url>\n  Options:\n"));
    }

    // ---- units ----

    [Theory]
    [InlineData("250.00us", 250)]
    [InlineData("12µs", 12)]
    [InlineData("2.08ms", 2080)]
    [InlineData("3.62s", 3_620_000)]
    [InlineData("3.62s ", 3_620_000)]
    [InlineData("1.50m", 90_000_000)]
    [InlineData("1h", 3_600_000_000)]
    public void DurationsAreMicroseconds(string text, double expected) =>
        Assert.Equal(expected, Units.ParseDurationMicroseconds(text), 6);

    [Theory]
    [InlineData("21.85k", 21_850)]
    [InlineData("244.59k", 244_590)]
    [InlineData("1.20M", 1_200_000)]
    [InlineData("2G", 2_000_000_000)]
    [InlineData("510.84", 510.84)]
    public void SiCountsUseThousands(string text, double expected) =>
        Assert.Equal(expected, Units.ParseSiCount(text), 6);

    [Theory]
    [InlineData("512B", 512)]
    [InlineData("62.58KB", 62.58 * 1024)]
    [InlineData("5.47MB", 5.47 * 1024 * 1024)]
    [InlineData("1.00GB", 1024.0 * 1024 * 1024)]
    [InlineData("3.06MB/s", 3.06 * 1024 * 1024)]
    [InlineData("1.5GiB", 1.5 * 1024 * 1024 * 1024)]
    public void ByteSizesAreBinary(string text, double expected) =>
        Assert.Equal(expected, Units.ParseBinaryBytes(text), 3);

    [Theory]
    [InlineData("fast")]
    [InlineData("12 parsecs")]
    public void UnitlessGarbageIsRejected(string text)
    {
        Assert.Throws<FormatException>(() => Units.ParseDurationMicroseconds(text));
        Assert.Throws<FormatException>(() => Units.ParseBinaryBytes(text));
    }

    // ---- bombardier ----

    [Fact]
    public void BombardierResultWithLatencyDistributionIsParsed()
    {
        var r = BombardierOutputParser.Parse(BombardierFormat.Classic);

        Assert.Equal(21432.17, r.RequestsPerSecondAverage, 6);
        Assert.Equal(3110.52, r.RequestsPerSecondStdev, 6);
        Assert.Equal(29873.4, r.RequestsPerSecondMax, 6);
        Assert.Equal(2980, r.LatencyAverageUs, 6);
        Assert.Equal(812.33, r.LatencyStdevUs, 6);
        Assert.Equal(1_210_000, r.LatencyMaxUs, 6);
        Assert.Equal(2710, r.LatencyPercentileUs(50)!.Value, 6);
        Assert.Equal(3350, r.LatencyPercentileUs(75)!.Value, 6);
        Assert.Equal(4120, r.LatencyPercentileUs(90)!.Value, 6);
        Assert.Equal(7060, r.LatencyPercentileUs(99)!.Value, 6);
        Assert.Equal(214321, r.Http2xx);
        Assert.Equal(214321, r.TotalRequests);
        Assert.Equal(0, r.ErrorCount);
        Assert.Equal(27.81 * MiB, r.ThroughputBytesPerSecond, 3);
    }

    [Fact]
    public void BombardierTotalDistributionWinsOverThe2xxOneAndErrorsAreCounted()
    {
        var r = BombardierOutputParser.Parse(BombardierFormat.WithTotalsAndErrors);

        Assert.Equal(950, r.LatencyPercentileUs(50)!.Value, 6);
        Assert.Equal(1_020_000, r.LatencyPercentileUs(99)!.Value, 6);
        Assert.Equal(5, r.LatencyPercentilesUs.Count);
        Assert.Equal(1200, r.Http2xx);
        Assert.Equal(3, r.Http5xx);
        Assert.Equal(7, r.Others);
        Assert.Equal(1210, r.TotalRequests);
        Assert.Equal(7, r.Errors["dial tcp 127.0.0.1:5000: connect: connection refused"]);
        Assert.Equal(10, r.ErrorCount);
        Assert.Equal(512.4 * 1024, r.ThroughputBytesPerSecond, 3);
    }

    [Fact]
    public void NonBombardierOutputIsRejected() =>
        Assert.Throws<FormatException>(() => BombardierOutputParser.Parse(Captured.WrkPlaintextLatency));

    // ---- strace -c ----

    [Fact]
    public void StraceSummaryOfRingCoreIsParsed()
    {
        var s = StraceSummaryParser.Parse(Captured.StraceRingCore);

        Assert.Equal(25105, s.TotalCalls);
        Assert.Equal(8, s.TotalErrors);
        Assert.Equal(7.015396, s.TotalSeconds, 9);
        Assert.Equal(16, s.Syscalls.Count);
        Assert.Equal(s.TotalCalls, s.Syscalls.Sum(x => x.Calls));
        var futex = s.Syscalls.Single(x => x.Name == "futex");
        Assert.Equal(130, futex.Calls);
        Assert.Equal(7, futex.Errors);
        Assert.Equal(49.99, futex.PercentTime, 6);
        var setsockopt = s.Syscalls.Single(x => x.Name == "setsockopt");
        Assert.Equal(65, setsockopt.Calls);
        Assert.Equal(0, setsockopt.Errors);
        Assert.Equal(["sched_yield", "io_uring_enter", "write"], s.Top(3).Select(x => x.Name));
        Assert.Equal(9094, s.Top(2)[1].Calls);
    }

    [Fact]
    public void StraceSummaryOfSocketsIsParsed()
    {
        var s = StraceSummaryParser.Parse(Captured.StraceSockets);

        Assert.Equal(18934, s.TotalCalls);
        Assert.Equal(4661, s.TotalErrors);
        Assert.Equal(38, s.Syscalls.Count);
        var recv = s.Top(1).Single();
        Assert.Equal("recvfrom", recv.Name);
        Assert.Equal(9312, recv.Calls);
        Assert.Equal(4622, recv.Errors);
        Assert.Equal(0, s.Syscalls.Single(x => x.Name == "geteuid").Seconds);
    }

    [Fact]
    public void StraceMessagesAroundTheTableAreIgnored()
    {
        // What a terminal shows when the summary goes to stderr along with strace's attach/detach messages.
        string text = "strace: Process 14822 attached with 22 threads\n"
            + Captured.StraceRingCore.TrimEnd() + "strace: Process 14822 detached\nstrace: Process 14827 detached\n";

        var s = StraceSummaryParser.Parse(text);

        Assert.Equal(25105, s.TotalCalls);
        Assert.Equal(16, s.Syscalls.Count);
    }

    [Fact]
    public void StraceWithoutTotalRowSumsTheRows()
    {
        string text = string.Join('\n', Captured.StraceRingCore.Split('\n').Where(l => !l.TrimEnd().EndsWith("total", StringComparison.Ordinal)));

        Assert.Equal(25105, StraceSummaryParser.Parse(text).TotalCalls);
    }

    [Fact]
    public void NonStraceOutputIsRejected() =>
        Assert.Throws<FormatException>(() => StraceSummaryParser.Parse("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n"));

    // ---- /proc and /_stats ----

    [Fact]
    public void ProcStatCpuIsUtimePlusStime()
    {
        Assert.Equal(30 + 73, ProcFsParser.CpuTicks(Captured.ProcStat));
        // A thread name with spaces and a parenthesis does not shift the fields.
        Assert.Equal(30 + 73, ProcFsParser.CpuTicks(Captured.ProcStat.Replace("(bash)", "(RingCore ring 0) x)", StringComparison.Ordinal)));
    }

    [Fact]
    public void ProcStatusFieldsAreBytes()
    {
        Assert.Equal(4356L * 1024, ProcFsParser.StatusBytes(Captured.ProcStatus, "VmHWM"));
        Assert.Equal(4356L * 1024, ProcFsParser.StatusBytes(Captured.ProcStatus, "VmRSS"));
        Assert.Equal(5412L * 1024, ProcFsParser.StatusBytes(Captured.ProcStatus, "VmPeak"));
        Assert.Null(ProcFsParser.StatusBytes(Captured.ProcStatus, "VmMissing"));
    }

    [Fact]
    public void ContextSwitchesAreVoluntaryPlusInvoluntary()
    {
        Assert.Equal(1534L + 27, ProcFsParser.ContextSwitches(Captured.TaskStatusTail));
        Assert.Null(ProcFsParser.ContextSwitches(Captured.ProcStatus)); // no such lines: unknown, not zero
    }

    [Fact]
    public void StatsCountersAreOptional()
    {
        var ring = StatsSnapshot.Parse("""{"transport":"ringcore","syscalls":123,"ioUringEnters":100,"wakeups":20,"connectionsActive":3}""");
        var ringLater = StatsSnapshot.Parse("""{"transport":"ringcore","syscalls":1123,"ioUringEnters":700,"wakeups":25,"connectionsActive":0}""");
        var sockets = StatsSnapshot.Parse("""{"transport":"sockets"}""");

        Assert.Equal("ringcore", ring.Transport);
        Assert.Equal(4, ring.Counters.Count);
        Assert.Equal(1000, StatsSnapshot.Delta(ring, ringLater, StatsSnapshot.Syscalls));
        Assert.Equal(600, StatsSnapshot.Delta(ring, ringLater, "ioUringEnters"));
        Assert.Equal("sockets", sockets.Transport);
        Assert.Empty(sockets.Counters);
        Assert.Null(StatsSnapshot.Delta(sockets, sockets, StatsSnapshot.Syscalls));
        Assert.Null(StatsSnapshot.Delta(null, ringLater, StatsSnapshot.Syscalls));
    }

    // ---- medians, ratios, Markdown ----

    [Fact]
    public void MedianOfOddEvenAndMissingValues()
    {
        Assert.Equal(200, Statistics.Median([300, 100, 200]));
        Assert.Equal(150, Statistics.Median([400, 100, 200, 100]));
        Assert.Equal(2, Statistics.Median([null, 3, 1, null]));
        Assert.Null(Statistics.Median([null, null]));
        Assert.Null(Statistics.Median([]));
        Assert.Equal(2.0, Statistics.Ratio(200, 100));
        Assert.Null(Statistics.Ratio(200, 0));
        Assert.Null(Statistics.Ratio(null, 100));
    }

    [Fact]
    public void SummaryTakesMediansOverRoundsAndRatiosOfMedians()
    {
        RunMetrics[] runs =
        [
            Run("plaintext64", "ringcore", 1, rps: 100, p99: 1000, cpu: 3.0),
            Run("plaintext64", "sockets", 1, rps: 100, p99: 4000, cpu: 5.0),
            Run("plaintext64", "ringcore", 2, rps: 300, p99: 3000, cpu: 1.0),
            Run("plaintext64", "sockets", 2, rps: 150, p99: 1000, cpu: 4.0),
            Run("plaintext64", "ringcore", 3, rps: 200, p99: 2000, cpu: 2.0),
            Run("plaintext64", "sockets", 3, rps: 50, p99: 8000, cpu: 6.0),
            Run("plaintext64", "ringcore", 4, rps: 1, p99: 1, cpu: 1) with { Failed = true, Note = "FAILED: server did not start" },
        ];

        var rows = MarkdownReport.Summarize([Scenarios.Plaintext64], ["ringcore", "sockets"], runs);

        Assert.Equal(2, rows.Count);
        var ring = rows[0];
        Assert.Equal("ringcore", ring.Transport);
        Assert.Equal(3, ring.Runs);
        Assert.Equal(1, ring.FailedRuns);
        Assert.Equal(200, ring.Primary);
        Assert.Equal(200, ring.RequestsPerSecond);
        Assert.Equal(2000, ring.P99Us);
        Assert.Equal(2.0, ring.CpuSecondsPer100kRequests);
        Assert.Equal(2.0, ring.PrimaryRatio!.Value, 9);
        Assert.Equal(0.5, ring.P99Ratio!.Value, 9);
        var sockets = rows[1];
        Assert.True(sockets.IsBaseline);
        Assert.Equal(100, sockets.Primary);
        Assert.Equal(4000, sockets.P99Us);
        Assert.Null(sockets.PrimaryRatio);

        string table = MarkdownReport.ResultsTable(rows);
        Assert.Contains("| plaintext, 64 connections | ringcore | 3 (+1 failed) | 200 req/s | 2.00× | 200 |", table, StringComparison.Ordinal);
        Assert.Contains("| 2.00 | 0.50× | 2.00 |", table, StringComparison.Ordinal);
        Assert.Contains("| plaintext, 64 connections | sockets | 3 | 100 req/s | baseline |", table, StringComparison.Ordinal);
        Assert.Contains("| 4.00 | baseline |", table, StringComparison.Ordinal);
    }

    [Fact]
    public void EvenRoundCountsAverageTheMiddleTwo()
    {
        RunMetrics[] runs =
        [
            Run("json64", "ringcore-inline", 1, rps: 10, p99: 100, cpu: 1),
            Run("json64", "ringcore-inline", 2, rps: 40, p99: 400, cpu: 1),
            Run("json64", "ringcore-inline", 3, rps: 20, p99: 200, cpu: 1),
            Run("json64", "ringcore-inline", 4, rps: 30, p99: 300, cpu: 1),
            Run("json64", "sockets", 1, rps: 10, p99: 500, cpu: 1),
            Run("json64", "sockets", 2, rps: 10, p99: 500, cpu: 1),
        ];

        var row = MarkdownReport.Summarize([Scenarios.Json64], ["ringcore-inline", "sockets"], runs).First();

        Assert.Equal(25, row.Primary);
        Assert.Equal(250, row.P99Us);
        Assert.Equal(2.5, row.PrimaryRatio!.Value, 9);
        Assert.Equal(0.5, row.P99Ratio!.Value, 9);
    }

    [Fact]
    public void ByteScenariosReportPayloadGigabytesPerSecond()
    {
        RunMetrics[] runs =
        [
            Run("download", "ringcore", 1, rps: 500, p99: 90_000, cpu: 1) with { PayloadBytesPerSecond = 0.5e9 },
            Run("download", "ringcore", 2, rps: 700, p99: 70_000, cpu: 1) with { PayloadBytesPerSecond = 0.7e9 },
            Run("download", "ringcore", 3, rps: 600, p99: 80_000, cpu: 1) with { PayloadBytesPerSecond = 0.6e9 },
            Run("download", "sockets", 1, rps: 400, p99: 100_000, cpu: 1) with { PayloadBytesPerSecond = 0.4e9 },
        ];

        var rows = MarkdownReport.Summarize([Scenarios.Download], ["ringcore", "sockets"], runs);

        Assert.Equal(0.6e9, rows[0].Primary);
        Assert.Equal(1.5, rows[0].PrimaryRatio!.Value, 9);
        Assert.Equal(0.8, rows[0].P99Ratio!.Value, 9);
        Assert.Contains("| 0.60 GB/s | 1.50× | 600 |", MarkdownReport.ResultsTable(rows), StringComparison.Ordinal);
    }

    [Fact]
    public void NoBaselineMeansNoRatiosAndMissingValuesReadNa()
    {
        RunMetrics[] runs = [Run("plaintext64", "ringcore", 1, rps: 100, p99: null, cpu: null)];

        var row = MarkdownReport.Summarize([Scenarios.Plaintext64], ["ringcore"], runs).Single();

        Assert.Null(row.PrimaryRatio);
        Assert.Null(row.P99Us);
        Assert.Contains("| 100 req/s | n/a | 100 | 0.0 | n/a | n/a | n/a |", MarkdownReport.ResultsTable([row]), StringComparison.Ordinal);
    }

    [Fact]
    public void IdleTableReportsBytesPerConnectionMedians()
    {
        RunMetrics Idle(string transport, int round, long before, long after) => new()
        {
            Scenario = "idle10k", Transport = transport, Round = round,
            IdleConnectionsOpened = 10_000, IdleConnectionsTarget = 10_000, RssBeforeBytes = before, RssAfterBytes = after, IdleCpuPercent = 1.0,
        };
        RunMetrics[] runs =
        [
            Idle("ringcore", 1, 100_000_000, 180_000_000),
            Idle("ringcore", 2, 100_000_000, 160_000_000),
            Idle("ringcore", 3, 100_000_000, 170_000_000),
            Idle("sockets", 1, 100_000_000, 240_000_000),
        ];

        var rows = MarkdownReport.Summarize([Scenarios.Idle10k], ["ringcore", "sockets"], runs);

        Assert.Equal(7_000, rows[0].RssBytesPerConnection);
        Assert.Equal(14_000, rows[1].RssBytesPerConnection);
        Assert.Equal(0.5, rows[0].RssBytesPerConnectionRatio!.Value, 9);
        string table = MarkdownReport.IdleTable(rows);
        Assert.Contains("| ringcore | 3 | 10,000 | 95.4 | 162.1 | 7,000 | 0.50× | 1.0 |", table, StringComparison.Ordinal);
        Assert.DoesNotContain("idle", MarkdownReport.ResultsTable(rows), StringComparison.Ordinal);
    }

    [Fact]
    public void DocumentNamesMachineCommandsMethodAndTables()
    {
        RunMetrics[] runs =
        [
            Run("plaintext64", "ringcore", 1, rps: 200, p99: 1000, cpu: 1),
            Run("plaintext64", "sockets", 1, rps: 100, p99: 2000, cpu: 1),
        ];
        var context = new ReportContext
        {
            Machine = new MachineInfo { Cores = 2, Kernel = "6.18.44", DotNet = ".NET 10.0.12", Wrk = "wrk debian/4.1.0-3+b2 [epoll]" },
            Started = new DateTimeOffset(2025, 1, 2, 3, 4, 0, TimeSpan.Zero),
            RunnerCommandLine = "bash samples/run-benchmarks.sh --rounds 1",
            ServerCommand = "dotnet RingCore.SampleApp.dll --urls http://127.0.0.1:PORT --transport TRANSPORT",
            Scenarios = [Scenarios.Plaintext64],
            Transports = ["ringcore", "sockets"],
            Rounds = 1,
            DurationSeconds = 10,
            WarmupSeconds = 3,
            ClientCommands = [new("plaintext64", "wrk -t1 -c64 -d10s --latency http://127.0.0.1:PORT/plaintext")],
            Runs = runs,
            StraceChecks = [new StraceCheck { Transport = "ringcore", Requests = 1000, TotalSyscalls = 650, TopSyscalls = [("io_uring_enter", 500), ("futex", 150)] }],
            Notes = ["a note"],
        };

        string doc = MarkdownReport.Document(context);

        Assert.Contains("2025-01-02 03:04 UTC", doc, StringComparison.Ordinal);
        Assert.Contains("| cores (Environment.ProcessorCount) | 2 |", doc, StringComparison.Ordinal);
        Assert.Contains("| kernel (uname -r) | 6.18.44 |", doc, StringComparison.Ordinal);
        Assert.Contains("| wrk | wrk debian/4.1.0-3+b2 [epoll] |", doc, StringComparison.Ordinal);
        Assert.Contains("bash samples/run-benchmarks.sh --rounds 1", doc, StringComparison.Ordinal);
        Assert.Contains("plaintext64: wrk -t1 -c64 -d10s --latency http://127.0.0.1:PORT/plaintext", doc, StringComparison.Ordinal);
        Assert.Contains("median over the rounds", doc, StringComparison.Ordinal);
        Assert.Contains("| 200 req/s | 2.00× |", doc, StringComparison.Ordinal);
        Assert.Contains("| ringcore | 1,000 | 650 | 0.65 | n/a | io_uring_enter 0.50, futex 0.15 |", doc, StringComparison.Ordinal);
        Assert.Contains("- a note", doc, StringComparison.Ordinal);
    }

    // ---- options and client command lines ----

    [Fact]
    public void OptionsDefaultToThreeRoundsOfEverything()
    {
        var (o, error) = BenchmarkOptions.Parse([]);

        Assert.Null(error);
        Assert.Equal(3, o!.Rounds);
        Assert.Equal(10, o.DurationSeconds);
        Assert.Equal(10, o.WarmupSeconds);
        Assert.Equal(["ringcore", "ringcore-inline", "sockets"], o.Transports); // ringcore is ThreadPool now: no ringcore-threadpool twice
        Assert.NotNull(BenchmarkOptions.Parse(["--transports", "ringcore-threadpool"]).Options);
        Assert.Equal(Scenarios.All, o.Scenarios);
        Assert.Equal("docs/benchmarks.md", o.OutputPath);
        Assert.True(o.Strace);
    }

    [Fact]
    public void OptionsParseLists()
    {
        var (o, error) = BenchmarkOptions.Parse(["--rounds", "1", "--duration=3", "--warmup", "0", "--scenarios", "plaintext64,download", "--transports", "sockets,ringcore", "--no-strace", "--out", "x.md"]);

        Assert.Null(error);
        Assert.Equal(1, o!.Rounds);
        Assert.Equal(3, o.DurationSeconds);
        Assert.Equal(0, o.WarmupSeconds);
        Assert.Equal([Scenarios.Plaintext64, Scenarios.Download], o.Scenarios);
        Assert.Equal(["sockets", "ringcore"], o.Transports);
        Assert.False(o.Strace);
        Assert.Equal("x.md", o.OutputPath);
    }

    [Theory]
    [InlineData("--rounds", "0")]
    [InlineData("--scenarios", "nope")]
    [InlineData("--transports", "epoll")]
    [InlineData("--frobnicate", "1")]
    public void BadOptionsAreErrors(string option, string value)
    {
        var (o, error) = BenchmarkOptions.Parse([option, value]);

        Assert.Null(o);
        Assert.NotNull(error);
    }

    [Fact]
    public void ClientCommandLinesMatchTheScenarios()
    {
        var clients = new LoadClients("/usr/bin/wrk", "/opt/bombardier", "/usr/bin/h2load", wrkThreads: 1, scriptDir: "/tmp/s");
        string Line(Scenario s) => LoadClients.Display(clients.Command(s, "http://127.0.0.1:PORT", 10).FileName, clients.Command(s, "http://127.0.0.1:PORT", 10).Arguments);

        Assert.Equal("wrk -t1 -c64 -d10s --timeout 10s --latency http://127.0.0.1:PORT/plaintext", Line(Scenarios.Plaintext64));
        Assert.Equal("wrk -t1 -c1024 -d10s --timeout 10s --latency http://127.0.0.1:PORT/plaintext", Line(Scenarios.Plaintext1024));
        Assert.Equal("wrk -t1 -c64 -d10s --timeout 10s --latency -s /tmp/s/pipeline.lua http://127.0.0.1:PORT/plaintext -- 16", Line(Scenarios.Pipelined));
        Assert.Equal("wrk -t1 -c16 -d10s --timeout 10s --latency 'http://127.0.0.1:PORT/download?size=1048576'", Line(Scenarios.Download));
        Assert.Equal("wrk -t1 -c16 -d10s --timeout 10s --latency -s /tmp/s/upload.lua http://127.0.0.1:PORT/upload", Line(Scenarios.Upload));
        Assert.Equal("bombardier -c 64 -d 10s -l -p r http://127.0.0.1:PORT/plaintext", Line(Scenarios.Plaintext64Bombardier));
        Assert.Equal("wrk -t1 -c8 -d10s --timeout 10s --latency http://127.0.0.1:PORT/plaintext", Line(Scenarios.Plaintext8));
        Assert.Equal("wrk -t1 -c64 -d10s --timeout 10s --latency -s /tmp/s/churn.lua http://127.0.0.1:PORT/plaintext -- 1", Line(Scenarios.Churn1));
        Assert.Equal("wrk -t1 -c64 -d10s --timeout 10s --latency -s /tmp/s/churn.lua http://127.0.0.1:PORT/plaintext -- 10", Line(Scenarios.Churn10));
        Assert.Equal("h2load -t1 -c32 -m16 -D 10 --log-file=/tmp/s/h2load-requests.tsv http://127.0.0.1:PORT/plaintext", Line(Scenarios.H2c32x16));
        Assert.Equal("h2load -t1 -c1 -m64 -D 10 --log-file=/tmp/s/h2load-requests.tsv http://127.0.0.1:PORT/plaintext", Line(Scenarios.H2c1x64));
    }

    [Fact]
    public void BlockingScenariosAreKnownAndRunTheirClients()
    {
        var (o, error) = BenchmarkOptions.Parse(["--scenarios", "sleep1ms,blocking-neighbours,mixed-blocking"]);
        Assert.Null(error);
        Assert.Equal([Scenarios.Sleep1ms, Scenarios.BlockingNeighbours, Scenarios.MixedBlocking], o!.Scenarios);
        Assert.All(o.Scenarios, s => Assert.True(s.Blocking));
        Assert.Contains(Scenarios.MixedBlocking, Scenarios.All);

        var clients = new LoadClients("/usr/bin/wrk", null, null, wrkThreads: 1, scriptDir: "/tmp/s");
        string Line((string FileName, IReadOnlyList<string> Arguments) c) => LoadClients.Display(c.FileName, c.Arguments);
        Assert.Equal("wrk -t1 -c64 -d10s --timeout 10s --latency 'http://127.0.0.1:PORT/sleep?ms=1'", Line(clients.Command(Scenarios.Sleep1ms, "http://127.0.0.1:PORT", 10)));
        Assert.Equal("wrk -t1 -c64 -d10s --timeout 10s --latency http://127.0.0.1:PORT/plaintext", Line(clients.Command(Scenarios.BlockingNeighbours, "http://127.0.0.1:PORT", 10)));
        Assert.Equal("wrk -t1 -c4 -d10s --timeout 10s 'http://127.0.0.1:PORT/sleep?ms=5'", Line(clients.NeighbourCommand(Scenarios.BlockingNeighbours, "http://127.0.0.1:PORT", 10)));
        Assert.Throws<InvalidOperationException>(() => clients.NeighbourCommand(Scenarios.Plaintext64, "http://127.0.0.1:PORT", 10));
        Assert.Throws<InvalidOperationException>(() => clients.Command(Scenarios.MixedBlocking, "http://127.0.0.1:PORT", 10));
        Assert.Contains("seed 20251208", MixedBlockingClient.Describe(64, 8), StringComparison.Ordinal);
    }

    // ---- the mixed-blocking client's pure parts ----

    [Fact]
    public void ResponseHeadsGiveStatusLengthAndKeepAlive()
    {
        byte[] bytes = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: Kestrel\r\n\r\nHello, World!"u8.ToArray();

        int end = HttpResponseHead.FindEnd(bytes);
        var head = HttpResponseHead.Parse(bytes.AsSpan(0, end));

        Assert.Equal(bytes.Length - 13, end);
        Assert.Equal(new HttpResponseHead(200, 13, Chunked: false, KeepAlive: true), head);
        Assert.Equal(-1, HttpResponseHead.FindEnd("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"u8));
        Assert.Equal(new HttpResponseHead(500, null, Chunked: true, KeepAlive: false),
            HttpResponseHead.Parse("HTTP/1.1 500 \r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"u8));
        Assert.False(HttpResponseHead.Parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"u8).KeepAlive);
        Assert.True(HttpResponseHead.Parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"u8).KeepAlive);
        Assert.Throws<FormatException>(() => HttpResponseHead.Parse("SSH-2.0-OpenSSH\r\n\r\n"u8));
        Assert.Throws<FormatException>(() => HttpResponseHead.Parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"u8));
    }

    [Fact]
    public void MixedWorkloadBlocksOneRequestInFour()
    {
        var kinds = Enumerable.Range(0, MixedRequests.TotalWeight).Select(MixedRequests.Pick).ToList();
        int Requests(MixedKind k) => kinds.Count(x => x == k) * (k == MixedKind.Pipelined ? MixedRequests.PipelineDepth : 1);

        int all = Enum.GetValues<MixedKind>().Sum(Requests);
        Assert.Equal(100, all);
        Assert.Equal(25, Requests(MixedKind.Sleep) + Requests(MixedKind.EchoSync));
        Assert.All(Enum.GetValues<MixedKind>(), k => Assert.Contains(k, kinds));
        Assert.Throws<ArgumentOutOfRangeException>(() => MixedRequests.Pick(MixedRequests.TotalWeight));
    }

    [Fact]
    public void MixedWorkloadIsTheSameSequenceForTheSameSeed()
    {
        var requests = new MixedRequests("127.0.0.1:5000");
        List<MixedRequest> Steps() { var r = new Random(MixedRequests.Seed + 3); return Enumerable.Range(0, 500).Select(_ => requests.Next(r)).ToList(); }

        var first = Steps();
        var second = Steps();

        Assert.Equal(first.Select(s => (s.Kind, Convert.ToHexString(s.Bytes), Convert.ToHexString(s.ExpectedBody.Span))),
            second.Select(s => (s.Kind, Convert.ToHexString(s.Bytes), Convert.ToHexString(s.ExpectedBody.Span))));
        var echo = first.First(s => s.Kind == MixedKind.Echo);
        string text = System.Text.Encoding.ASCII.GetString(echo.Bytes);
        Assert.StartsWith("POST /echo HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n", text, StringComparison.Ordinal);
        Assert.Contains($"Content-Length: {echo.ExpectedBody.Length}\r\n\r\n", text, StringComparison.Ordinal);
        Assert.True(echo.Bytes.AsSpan(echo.Bytes.Length - echo.ExpectedBody.Length).SequenceEqual(echo.ExpectedBody.Span)); // the body comes back as sent
        var upload = first.First(s => s.Kind == MixedKind.Upload);
        int uploaded = upload.Bytes.Length - System.Text.Encoding.ASCII.GetString(upload.Bytes).IndexOf("\r\n\r\n", StringComparison.Ordinal) - 4;
        Assert.Equal($"{uploaded} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(upload.Bytes.AsSpan(upload.Bytes.Length - uploaded)))}",
            System.Text.Encoding.ASCII.GetString(upload.ExpectedBody.Span)); // the sample app's "LENGTH SHA256HEX"
        Assert.All(first.Where(s => s.Kind == MixedKind.Pipelined), s => Assert.Equal(MixedRequests.PipelineDepth, s.Answers));
    }

    [Fact]
    public void DownloadPatternAndWrongBytesCount()
    {
        // The sample app's block: byte i of 64 KiB is i mod 251, repeated.
        Assert.Equal(0, MixedRequests.DownloadByte(0));
        Assert.Equal(250, MixedRequests.DownloadByte(250));
        Assert.Equal(0, MixedRequests.DownloadByte(251));
        Assert.Equal(65535 % 251, MixedRequests.DownloadByte(65535));
        Assert.Equal(0, MixedRequests.DownloadByte(65536));

        Assert.Equal(0, MixedRequests.WrongBytes("abcd"u8, "abcd"u8));
        Assert.Equal(2, MixedRequests.WrongBytes("axcy"u8, "abcd"u8));
        Assert.Equal(3, MixedRequests.WrongBytes("a"u8, "abcd"u8));
        Assert.Equal(1, MixedRequests.WrongBytes("abcde"u8, "abcd"u8));
    }

    [Fact]
    public void BlockingTableSumsWrongBytesAndShowsTheNeighbours()
    {
        RunMetrics[] runs =
        [
            Run("mixed-blocking", "ringcore", 1, rps: 900, p99: 40_000, cpu: 1) with { WrongBytes = 0, Mix = "sleep 10, echo 20" },
            Run("mixed-blocking", "ringcore", 2, rps: 1100, p99: 40_000, cpu: 1) with { WrongBytes = 7, Errors = 1 },
            Run("mixed-blocking", "sockets", 1, rps: 500, p99: 40_000, cpu: 1) with { WrongBytes = 0 },
            Run("blocking-neighbours", "ringcore", 1, rps: 20_000, p99: 3_000, cpu: 1) with { NeighbourRequestsPerSecond = 700 },
        ];

        var rows = MarkdownReport.Summarize([Scenarios.MixedBlocking, Scenarios.BlockingNeighbours, Scenarios.Plaintext64], ["ringcore", "sockets"], runs);
        string table = MarkdownReport.BlockingTable(rows);

        Assert.Contains("| ringcore | 2 | 1,000 | 2.00× | 40.00 | n/a | 1 | 7 | sleep 10, echo 20 |", table, StringComparison.Ordinal);
        Assert.Contains("| sockets | 1 | 500 | baseline | 40.00 | n/a | 0 | 0 |", table, StringComparison.Ordinal);
        Assert.Contains("| ringcore | 1 | 20,000 | n/a | 3.00 | 700 | 0 | not checked |", table, StringComparison.Ordinal);
        Assert.DoesNotContain("| plaintext, 64 connections |", table, StringComparison.Ordinal); // not a blocking scenario
    }

    [Fact]
    public void ScenariosTellTheServerWhatTheyNeed()
    {
        Assert.Equal(["--Kestrel:EndpointDefaults:Protocols=Http2"], Scenarios.H2c4x16.ServerArguments("/c.pfx", "pw"));
        Assert.Equal(["--Kestrel:Certificates:Default:Path=/c.pfx", "--Kestrel:Certificates:Default:Password=pw"], Scenarios.Https64.ServerArguments("/c.pfx", "pw"));
        Assert.Empty(Scenarios.Plaintext64.ServerArguments("/c.pfx", "pw"));
    }

    // ---- h2load ----

    [Fact]
    public void H2loadSummaryIsParsed()
    {
        var r = H2loadOutputParser.Parse(Captured.H2loadTimed);

        Assert.Equal(3.00, r.DurationSeconds, 6);
        Assert.Equal(34056.50, r.RequestsPerSecond, 6);
        Assert.Equal(1.30 * MiB, r.TransferBytesPerSecond, 3);
        Assert.Equal(68113, r.Requests);
        Assert.Equal(68113, r.Succeeded);
        Assert.Equal(0, r.Errors);
    }

    [Fact]
    public void H2loadFailuresAndErrorStatusesAreErrors()
    {
        string output = Captured.H2loadTimed
            .Replace("68113 done, 68113 succeeded, 0 failed, 0 errored, 0 timeout", "68113 done, 68100 succeeded, 10 failed, 2 errored, 1 timeout", StringComparison.Ordinal)
            .Replace("68113 2xx, 0 3xx, 0 4xx, 0 5xx", "68110 2xx, 0 3xx, 1 4xx, 2 5xx", StringComparison.Ordinal);

        Assert.Equal(16, H2loadOutputParser.Parse(output).Errors);
    }

    [Fact]
    public void H2loadWithoutSummaryIsAFormatError() =>
        Assert.Throws<FormatException>(() => H2loadOutputParser.Parse("connect: Connection refused\nNo protocol negotiated. Aborted."));

    [Fact]
    public void H2loadPercentilesComeFromTheRequestLogByNearestRank()
    {
        var lines = Enumerable.Range(1, 200).Select(i => $"1796173554757048\t200\t{i * 10}").Append("garbage");

        var p = H2loadOutputParser.LatencyPercentilesUs(lines, 50, 99);

        Assert.Equal(1000, p[50]);
        Assert.Equal(1980, p[99]);
        Assert.Empty(H2loadOutputParser.LatencyPercentilesUs([], 50));
    }

    // ---- quiet machine, transport variants, grid ----

    [Fact]
    public void ProcStatCpuLineSplitsBusyIdleAndSteal()
    {
        var before = QuietGate.Parse("cpu  100 0 50 1000 10 5 5 0 0 0");
        var after = QuietGate.Parse("cpu  110 0 55 1180 10 5 5 20 0 0");

        Assert.Equal(160, before.Busy);
        Assert.Equal(1010, before.Idle);
        Assert.Equal(100.0 * (15 + 20) / 215, QuietGate.BusyPercent(before, after), 6); // stolen time is not idle time
        Assert.Equal(100.0 * 20 / 215, QuietGate.StealPercent(before, after), 6);
        Assert.Throws<FormatException>(() => QuietGate.Parse("cpu0 1 2 3 4 5 6 7 8"));
    }

    [Fact]
    public void TransportVariantsBecomeSampleAppSettings()
    {
        Assert.Equal(("ringcore", (IReadOnlyList<string>)[]), ServerProcess.ParseVariant("ringcore"));
        var (transport, settings) = ServerProcess.ParseVariant("ringcore@batch-wait-us=100+rings=1");
        Assert.Equal("ringcore", transport);
        Assert.Equal(["--batch-wait-us", "100", "--rings", "1"], settings);
    }

    [Fact]
    public void BatchWaitGridRunsEachWaitAgainstSocketsAtThreeConnectionCounts()
    {
        var (o, error) = BenchmarkOptions.Parse(["--batch-wait-grid", "0,250,500"]);

        Assert.Null(error);
        Assert.Equal(["ringcore-threadpool@batch-wait-us=0", "ringcore-threadpool@batch-wait-us=250", "ringcore-threadpool@batch-wait-us=500", "sockets"], o!.Transports);
        Assert.Equal([Scenarios.Plaintext8, Scenarios.Plaintext64, Scenarios.Plaintext1024], o.Scenarios);
        Assert.Equal("docs/batching-grid.md", o.OutputPath);
        Assert.Null(BenchmarkOptions.Parse(["--transports", "sockets@rings=1"]).Options);
        Assert.Null(BenchmarkOptions.Parse(["--batch-wait-grid", "-5"]).Options);
        Assert.NotNull(BenchmarkOptions.Parse(["--transports", "ringcore@rings=1+batch-wait-us=0,sockets"]).Options);
    }

    [Fact]
    public void ReportOfANoisyRunSaysSoInItsFirstLine()
    {
        var ctx = new ReportContext
        {
            Machine = new MachineInfo(),
            Started = DateTimeOffset.UnixEpoch,
            RunnerCommandLine = "x",
            Invalid = ["load average 1.80 at the start"],
        };

        string doc = MarkdownReport.Document(ctx);

        Assert.StartsWith("**NOT VALID: the machine was not quiet** (load average 1.80 at the start)", doc, StringComparison.Ordinal);
        Assert.DoesNotContain("**NOT VALID", MarkdownReport.Document(ctx with { Invalid = [] }), StringComparison.Ordinal);
    }

    private static RunMetrics Run(string scenario, string transport, int round, double rps, double? p99, double? cpu) => new()
    {
        Scenario = scenario,
        Transport = transport,
        Round = round,
        Requests = (long)(rps * 10),
        RequestsPerSecond = rps,
        TransferBytesPerSecond = rps * 130,
        P50Us = p99 / 2,
        P99Us = p99,
        CpuSecondsPer100kRequests = cpu,
        PeakRssBytes = 90L * 1024 * 1024,
    };

    /// <summary>
    /// bombardier's plain-text result layout (<c>bombardier -c 64 -d 10s -l -p r URL</c>, version 1.2): the HTTP tool is
    /// not installable on the development machine (Debian's "bombardier" package is a game), so these follow the
    /// documented layout rather than a capture. The first is the classic one, the second the newer one with a "(Total)"
    /// and a "(2xx)" distribution and an Errors block.
    /// </summary>
    private static class BombardierFormat
    {
        public const string Classic = """
            Statistics        Avg      Stdev        Max
              Reqs/sec     21432.17    3110.52    29873.4
              Latency        2.98ms   812.33us      1.21s
              Latency Distribution
                 50%     2.71ms
                 75%     3.35ms
                 90%     4.12ms
                 95%     4.88ms
                 99%     7.06ms
              HTTP codes:
                1xx - 0, 2xx - 214321, 3xx - 0, 4xx - 0, 5xx - 0
                others - 0
              Throughput:    27.81MB/s
            """;

        public const string WithTotalsAndErrors = """
            Statistics        Avg      Stdev        Max
              Reqs/sec       121.00      40.12     180.00
              Latency      102.33ms   300.10ms      1.80s
              Latency Distribution (Total)
                 50%   950.00us
                 75%     1.20ms
                 90%     2.30ms
                 95%   400.00ms
                 99%      1.02s
              Latency Distribution (2xx)
                 50%   900.00us
                 75%     1.10ms
                 90%     2.00ms
                 95%   300.00ms
                 99%   990.00ms
              HTTP codes:
                1xx - 0, 2xx - 1200, 3xx - 0, 4xx - 0, 5xx - 3
                others - 7
              Errors:
                dial tcp 127.0.0.1:5000: connect: connection refused - 7
              Throughput:   512.40KB/s
            """;
    }
}

/// <summary>Output captured on the development machine; PORT stands for the run's port in the comments.</summary>
internal static class Captured
{
    // h2load -t1 -c4 -m16 -D 2 --warm-up-time=1 --log-file=… http://127.0.0.1:PORT/plaintext (RingCore, h2c; nghttp2 1.52.0)
    public const string H2loadTimed = """
        starting benchmark...
        spawning thread #0: 4 total client(s). Timing-based test with 1s of warm-up time and 2s of main duration for measurements.
        Warm-up started for thread #0.
        progress: 25% of clients started
        progress: 100% of clients started
        Application protocol: h2c
        Warm-up phase is over for thread #0.
        Main benchmark duration is started for thread #0.
        Main benchmark duration is over for thread #0. Stopping all clients.
        Stopped all clients for thread #0

        finished in 3.00s, 34056.50 req/s, 1.30MB/s
        requests: 68113 total, 68113 started, 68113 done, 68113 succeeded, 0 failed, 0 errored, 0 timeout
        status codes: 68113 2xx, 0 3xx, 0 4xx, 0 5xx
        traffic: 2.60MB (2724787) total, 963.10KB (986218) headers (space savings 90.42%), 1.36MB (1423864) data
                             min         max         mean         sd        +/- sd
        time for request:      238us     74.58ms      1.66ms      2.68ms    96.98%
        time for connect:        0us         0us         0us         0us     0.00%
        time to 1st byte:        0us         0us         0us         0us     0.00%
        req/s           :    7664.00     8861.19     8512.15      567.97    75.00%
        """;

    // wrk -t1 -c64 -d2s --latency http://127.0.0.1:PORT/plaintext (RingCore)
    public const string WrkPlaintextLatency = """
        Running 2s test @ http://127.0.0.1:5111/plaintext
          1 threads and 64 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency     2.59ms    1.93ms  17.72ms   82.83%
            Req/Sec    21.85k     8.39k   44.91k    90.00%
          Latency Distribution
             50%    2.08ms
             75%    3.33ms
             90%    4.86ms
             99%   10.28ms
          43473 requests in 2.02s, 5.47MB read
        Requests/sec:  21574.09
        Transfer/sec:      2.72MB
        """;

    // wrk -t1 -c64 -d2s --latency -s pipeline.lua http://127.0.0.1:PORT/plaintext -- 16: wrk times whole batches, so its p99 reads 0.00us
    public const string WrkPipelined = """
        Running 2s test @ http://127.0.0.1:5111/plaintext
          1 threads and 64 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency     4.08ms    3.22ms  35.52ms   76.95%
            Req/Sec   156.68k    42.83k  244.59k    75.00%
          Latency Distribution
             50%    3.27ms
             75%    5.76ms
             90%    9.16ms
             99%    0.00us
          317213 requests in 2.05s, 39.93MB read
        Requests/sec: 154925.70
        Transfer/sec:     19.50MB
        """;

    // wrk -t1 -c16 -d2s --latency 'http://127.0.0.1:PORT/download?size=1048576': GB read, MB/s transfer
    public const string WrkDownload = """
        Running 2s test @ http://127.0.0.1:5111/download?size=1048576
          1 threads and 16 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency    25.86ms   16.18ms 109.23ms   79.60%
            Req/Sec   510.84    110.22   740.00     73.68%
          Latency Distribution
             50%   24.00ms
             75%   32.13ms
             90%   40.37ms
             99%   92.71ms
          1020 requests in 2.01s, 1.00GB read
        Requests/sec:    507.27
        Transfer/sec:    510.42MB
        """;

    // wrk -t1 -c256 -d3s --timeout 10s --latency 'http://127.0.0.1:PORT/download?size=4194304': latencies in seconds (with wrk's trailing space)
    public const string WrkSecondsLatency = """
        Running 3s test @ http://127.0.0.1:5111/download?size=4194304
          1 threads and 256 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency     3.61s    18.16ms   3.64s    66.67%
            Req/Sec     2.00      0.00     2.00    100.00%
          Latency Distribution
             50%    3.62s 
             75%    3.62s 
             90%    3.64s 
             99%    3.64s 
          9 requests in 3.69s, 669.58MB read
        Requests/sec:      2.44
        Transfer/sec:    181.35MB
        """;

    // wrk -t1 -c16 -d2s --latency -s upload.lua http://127.0.0.1:PORT/upload: KB transfer
    public const string WrkUpload = """
        Running 2s test @ http://127.0.0.1:5111/upload
          1 threads and 16 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency    47.69ms   32.56ms 162.10ms   75.00%
            Req/Sec   325.33    128.61   524.00     44.44%
          Latency Distribution
             50%   38.72ms
             75%   64.82ms
             90%   93.75ms
             99%  152.68ms
          646 requests in 2.08s, 129.96KB read
        Requests/sec:    311.08
        Transfer/sec:     62.58KB
        """;

    // wrk -t1 -c256 -d3s --timeout 1s --latency 'http://127.0.0.1:PORT/download?size=4194304': every request timed out
    public const string WrkTimeouts = """
        Running 3s test @ http://127.0.0.1:5111/download?size=4194304
          1 threads and 256 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency     0.00us    0.00us   0.00us    -nan%
            Req/Sec     3.00      0.00     3.00    100.00%
          Latency Distribution
             50%    0.00us
             75%    0.00us
             90%    0.00us
             99%    0.00us
          10 requests in 3.21s, 325.51MB read
          Socket errors: connect 0, read 0, write 0, timeout 10
        Requests/sec:      3.12
        Transfer/sec:    101.41MB
        """;

    // wrk -t1 -c8 -d1s --latency http://127.0.0.1:PORT/nothere: 404s, a p50 in us
    public const string WrkNon2xx = """
        Running 1s test @ http://127.0.0.1:5111/nothere
          1 threads and 8 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency     3.35ms    6.50ms  50.62ms   88.35%
            Req/Sec    17.27k     4.99k   23.44k    60.00%
          Latency Distribution
             50%  250.00us
             75%    3.68ms
             90%   10.96ms
             99%   33.29ms
          17145 requests in 1.00s, 1.62MB read
          Non-2xx or 3xx responses: 17145
        Requests/sec:  17118.79
        Transfer/sec:      1.62MB
        """;

    // wrk -t1 -c64 -d2s http://127.0.0.1:PORT/plaintext (Sockets, under strace; no --latency): KB transfer
    public const string WrkNoLatency = """
        Running 2s test @ http://127.0.0.1:5112/plaintext
          1 threads and 64 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency    32.06ms   27.62ms 150.61ms   82.69%
            Req/Sec     2.31k     1.48k    4.91k    65.00%
          4592 requests in 2.01s, 591.94KB read
        Requests/sec:   2288.71
        Transfer/sec:    295.03KB
        """;

    // strace -c -f -p PID -o FILE around a 2 s wrk plaintext run (RingCore): errors column partly empty
    public const string StraceRingCore = """
        % time     seconds  usecs/call     calls    errors syscall
        ------ ----------- ----------- --------- --------- ----------------
         49.99    3.506934       26976       130         7 futex
         26.09    1.830294         172     10637           sched_yield
         16.82    1.180044         129      9094           io_uring_enter
          4.85    0.340247          67      5020           write
          2.08    0.146152       24358         6         1 restart_syscall
          0.06    0.004402          67        65           setsockopt
          0.04    0.003054          46        65           getsockname
          0.04    0.002471          38        65           getpeername
          0.01    0.000724         241         3           getrusage
          0.01    0.000354          88         4           close
          0.00    0.000188          62         3           membarrier
          0.00    0.000164          54         3           openat
          0.00    0.000141          47         3           prlimit64
          0.00    0.000093          31         3           read
          0.00    0.000080          80         1           shutdown
          0.00    0.000054          18         3           newfstatat
        ------ ----------- ----------- --------- --------- ----------------
        100.00    7.015396         279     25105         8 total
        """;

    // strace -c -f -p PID -o FILE around a 2 s wrk plaintext run (Kestrel Sockets)
    public const string StraceSockets = """
        % time     seconds  usecs/call     calls    errors syscall
        ------ ----------- ----------- --------- --------- -----------------------
         52.60    3.703458       22582       164        35 futex
         13.22    0.930695       24491        38           read
          9.35    0.658183         271      2427           epoll_wait
          7.97    0.561339          60      9312      4622 recvfrom
          5.03    0.353919          77      4592           sendto
          4.86    0.342232       48890         7         3 restart_syscall
          4.84    0.340991         438       778           sched_yield
          0.60    0.042370          83       506           mprotect
          0.34    0.023862          78       304           mmap
          0.26    0.018348          68       268           munmap
          0.17    0.012218          93       130           fcntl
          0.12    0.008387         131        64           epoll_ctl
          0.11    0.007884         119        66         1 accept4
          0.10    0.007355         113        65           setsockopt
          0.06    0.004370         624         7           clone3
          0.05    0.003591         119        30           close
          0.04    0.002625         175        15           openat
          0.04    0.002578         122        21           rt_sigprocmask
          0.03    0.002188         156        14           write
          0.03    0.002141         305         7           set_robust_list
          0.03    0.001828          87        21           sched_getaffinity
          0.02    0.001531         109        14           gettid
          0.02    0.001279         182         7           pipe2
          0.02    0.001070          76        14           sigaltstack
          0.01    0.001018         145         7           sched_setscheduler
          0.01    0.000814         101         8           newfstatat
          0.01    0.000769         109         7           getpid
          0.01    0.000752         107         7           rseq
          0.01    0.000634          90         7           sched_setaffinity
          0.01    0.000610         101         6           getrusage
          0.01    0.000609          87         7           sched_get_priority_max
          0.01    0.000471          67         7           sched_get_priority_min
          0.00    0.000216         216         1           shutdown
          0.00    0.000200         100         2           madvise
          0.00    0.000007           7         1           membarrier
          0.00    0.000006           6         1           prlimit64
          0.00    0.000000           0         1           lstat
          0.00    0.000000           0         1           geteuid
        ------ ----------- ----------- --------- --------- -----------------------
        100.00    7.040548         371     18934      4661 total
        """;

    // /proc/PID/stat of a shell: utime 30, stime 73 ticks.
    public const string ProcStat = "13586 (bash) S 13585 13586 13586 0 -1 4194560 14153 952542 0 22 30 73 11311 5822 20 0 1 0 171779 5472256 1053 18446744073709551615 93864556113920 93864556903325 140735013526736 0 0 0 65536 4 1132560123 1 0 0 17 1 0 0 0 0 0 93864557136624 93864557184868 93865437499392 140735013530239 140735013530254 140735013530254 140735013531626 0\n";

    // The Vm lines of /proc/PID/status of the same shell (tab after the colon, as the kernel writes them).
    public const string ProcStatus = "Name:\tbash\nVmPeak:\t    5412 kB\nVmSize:\t    5344 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t    4356 kB\nVmRSS:\t    4356 kB\nVmData:\t    1288 kB\nVmStk:\t     132 kB\nVmExe:\t     772 kB\nVmLib:\t    1596 kB\nVmPTE:\t      52 kB\nVmSwap:\t       0 kB\nThreads:\t1\n";

    /// <summary>The tail of a /proc/PID/task/TID/status (Linux 6.18).</summary>
    public const string TaskStatusTail = "Mems_allowed_list:\t0\nvoluntary_ctxt_switches:\t1534\nnonvoluntary_ctxt_switches:\t27\nx86_Thread_features:\t\n";
}
