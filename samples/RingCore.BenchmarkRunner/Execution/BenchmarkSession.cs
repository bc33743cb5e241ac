using System.Globalization;
using RingCore.BenchmarkRunner.Model;
using RingCore.BenchmarkRunner.Parsing;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// Runs the selected scenarios round by round, then the strace cross-check. A scenario's servers are all up for its
/// whole run (<see cref="ScenarioServers"/>), and the transports take turns in alternating order (forwards in odd
/// rounds, backwards in even ones), so neither a transport's place in the round nor a drift of the machine favours one.
/// </summary>
internal sealed class BenchmarkSession
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);

    private readonly BenchmarkOptions _options;
    private readonly string _dotnet;
    private readonly string _dll;
    private readonly string? _proxyDll;
    private readonly LoadClients _clients;
    private readonly string? _strace;
    private readonly string _workDir;
    private readonly int _clockTicks;
    private readonly int _maxIdleConnections;
    private readonly TextWriter _console;
    private readonly string _certificatePath;
    private readonly string _certificatePassword;

    /// <param name="proxyDll">samples/RingCore.ProxySample, for the proxied scenarios.</param>
    public BenchmarkSession(BenchmarkOptions options, string dotnet, string dll, string? proxyDll, LoadClients clients, string? strace, string workDir,
        int clockTicks, int maxIdleConnections, TextWriter console)
    {
        _certificatePath = Path.Combine(workDir, "server.pfx");
        _certificatePassword = SelfSignedCertificate.Write(_certificatePath);
        _options = options;
        _dotnet = dotnet;
        _dll = dll;
        _proxyDll = proxyDll;
        _clients = clients;
        _strace = strace;
        _workDir = workDir;
        _clockTicks = clockTicks;
        _maxIdleConnections = maxIdleConnections;
        _console = console;
    }

    public List<RunMetrics> Runs { get; } = [];
    public List<StraceCheck> StraceChecks { get; } = [];
    public List<string> Notes { get; } = [];
    public List<KeyValuePair<string, string>> ClientCommands { get; } = [];
    public bool StraceRan { get; private set; }

    public async Task RunAsync(CancellationToken cancel)
    {
        var scenarios = _options.Scenarios;
        int totalRuns = scenarios.Count * _options.Rounds * _options.Transports.Count;
        int done = 0;
        foreach (var scenario in scenarios)
        {
            if (scenario.Client == LoadClient.H2load && !_clients.HasH2load)
            {
                Notes.Add($"{scenario.Name} skipped: h2load was not found (apt-get install nghttp2-client).");
                _console.WriteLine($"[{scenario.Name}] skipped: h2load not found (apt-get install nghttp2-client).");
                done += _options.Rounds * _options.Transports.Count;
                continue;
            }
            if (scenario.Client == LoadClient.Bombardier && !_clients.HasBombardier)
            {
                Notes.Add($"{scenario.Name} skipped: the bombardier HTTP load tool was not found (see Machine).");
                _console.WriteLine($"[{scenario.Name}] skipped: bombardier (the HTTP load tool) not found.");
                done += _options.Rounds * _options.Transports.Count;
                continue;
            }
            RecordCommand(scenario);
            await using ScenarioServers? servers = ScenarioServers.AppliesTo(scenario)
                ? await ScenarioServers.StartAsync(scenario, _options.Transports, transport => StartServerAsync(scenario, transport, cancel))
                : null;
            for (int round = 1; round <= _options.Rounds; round++)
            {
                IEnumerable<string> order = round % 2 == 1 ? _options.Transports : _options.Transports.Reverse();
                foreach (string transport in order)
                {
                    cancel.ThrowIfCancellationRequested();
                    done++;
                    if (scenario.Proxied && transport is not ("ringcore" or "sockets"))
                    {
                        // The proxy sample takes no sample-app settings and has no inline mode.
                        if (round == 1)
                        {
                            Notes.Add($"{scenario.Name}: {transport} not run (the proxy sample runs ringcore or sockets on both sides).");
                        }
                        continue;
                    }
                    var gate = await QuietGate.WaitAsync(maxLoad: null, TimeSpan.FromSeconds(_options.RoundQuietWaitSeconds), cancel);
                    _console.Write($"[{done}/{totalRuns}] {scenario.Name,-22} round {round}/{_options.Rounds} {transport,-16} ");
                    var run = scenario.Client == LoadClient.IdleConnections
                        ? await Guard(scenario, transport, round, () => RunIdleAsync(scenario, transport, round, cancel), cancel)
                        : await Guard(scenario, transport, round, () => RunLoadAsync(scenario, transport, round, servers?[transport], cancel), cancel);
                    run = run with
                    {
                        LoadAverageBefore = gate.LoadAverage1,
                        BusyBeforePercent = gate.BusyPercent,
                        Noisy = !gate.Quiet,
                        Note = gate.Quiet ? run.Note
                            : $"NOT QUIET: {gate.BusyPercent:F0}% of the CPU busy before the run, after waiting {gate.Waited.TotalSeconds:F0} s" + (run.Note is null ? "" : "; " + run.Note),
                    };
                    Runs.Add(run);
                    _console.WriteLine(Describe(scenario, run));
                }
            }
        }

        if (_options.Strace && scenarios.Contains(Scenarios.Plaintext64))
        {
            if (_strace is null)
            {
                Notes.Add("strace cross-check skipped: strace not found.");
                return;
            }
            StraceRan = true;
            foreach (string transport in _options.Transports)
            {
                cancel.ThrowIfCancellationRequested();
                _console.Write($"[strace] {Scenarios.Plaintext64.Name} {_options.StraceSeconds} s {transport,-16} ");
                var check = await RunStraceAsync(transport, cancel);
                StraceChecks.Add(check);
                _console.WriteLine(check.Error is not null
                    ? "failed: " + check.Error
                    : $"{check.Requests:N0} requests, {check.TotalSyscalls:N0} syscalls = {check.SyscallsPerRequest:F2}/req; top: {string.Join(", ", check.TopSyscalls.Select(t => $"{t.Name} {t.Calls:N0}"))}");
            }
        }
    }

    private void RecordCommand(Scenario scenario)
    {
        bool idle = scenario.Client == LoadClient.IdleConnections;
        if (scenario.Client == LoadClient.MixedBlocking)
        {
            ClientCommands.Add(new(scenario.Name, MixedBlockingClient.Describe(scenario.Connections, _options.DurationSeconds)));
            return;
        }
        string baseUrl = (scenario.Tls ? "https" : "http") + "://127.0.0.1:PORT";
        var (file, args) = _clients.Command(scenario, baseUrl, idle ? _options.WarmupSeconds : _options.DurationSeconds, latency: !idle);
        string command = LoadClients.Display(file, args).Replace(_workDir, "TMP", StringComparison.Ordinal);
        if (scenario.Neighbours is not null)
        {
            var (neighbourFile, neighbourArgs) = _clients.NeighbourCommand(scenario, baseUrl, _options.DurationSeconds);
            command += $"   and at the same time (the neighbours, not in the headline): {LoadClients.Display(neighbourFile, neighbourArgs)}";
        }
        if (idle)
        {
            command = $"warm-up: {command}; then the runner opens {_maxIdleConnections:N0} sockets, sends 'GET /plaintext HTTP/1.1' on each, reads the answer and holds them for {_options.DurationSeconds} s";
        }
        var serverArguments = scenario.ServerArguments("TMP/server.pfx", "PASSWORD");
        if (scenario.Proxied)
        {
            command += "   (against samples/RingCore.ProxySample --urls http://127.0.0.1:PORT --transport TRANSPORT --outbound TRANSPORT "
                + "--backend http://127.0.0.1:PORT2, the backend being the sample app with --transport sockets)";
        }
        else if (serverArguments.Count > 0)
        {
            command += $"   (server started with: {(scenario.Tls ? "--urls https://127.0.0.1:PORT " : "")}{string.Join(' ', serverArguments)})";
        }
        ClientCommands.Add(new(scenario.Name, command));
    }

    private async Task<RunMetrics> Guard(Scenario scenario, string transport, int round, Func<Task<RunMetrics>> run, CancellationToken cancel)
    {
        try
        {
            return await run();
        }
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            string message = e.Message.Split('\n')[0];
            return new RunMetrics { Scenario = scenario.Name, Transport = transport, Round = round, Failed = true, Note = "FAILED: " + message };
        }
    }

    private Task<ServerProcess> StartServerAsync(Scenario scenario, string transport, CancellationToken cancel) =>
        ServerProcess.StartAsync(_dotnet, _dll, transport, scenario.ServerArguments(_certificatePath, _certificatePassword), scenario.Tls, scenario.IsHttp2, cancel);

    /// <param name="shared">The scenario's server for this transport, kept up across rounds; null: start one for this run.</param>
    private async Task<RunMetrics> RunLoadAsync(Scenario scenario, string transport, int round, ServerProcess? shared, CancellationToken cancel)
    {
        // A proxied run measures the proxy (its CPU, its syscalls are not counted: /_stats would reach the backend);
        // the backend is the same Sockets sample app for every transport.
        await using var backend = scenario.Proxied ? await ServerProcess.StartAsync(_dotnet, _dll, "sockets", cancel) : null;
        await using var owned = shared is not null ? null : backend is not null
            ? await ServerProcess.StartAsync(_dotnet, _proxyDll ?? throw new InvalidOperationException("the proxy sample was not located"), transport,
                ["--backend", backend.BaseUrl, "--outbound", transport], tls: false, http2Only: false, cancel)
            : await StartServerAsync(scenario, transport, cancel);
        ServerProcess server = shared ?? owned!;
        if (_options.WarmupSeconds > 0)
        {
            await _clients.RunAsync(scenario, server.BaseUrl, _options.WarmupSeconds, cancel, latency: false);
        }
        var statsBefore = scenario.Proxied ? null : await server.TryGetStatsAsync(cancel);
        long ticksBefore = server.CpuTicks();
        long switchesBefore = server.ContextSwitches();
        var machineBefore = QuietGate.Read();
        var result = await _clients.RunAsync(scenario, server.BaseUrl, _options.DurationSeconds, cancel);
        var machineAfter = QuietGate.Read();
        long ticksAfter = server.CpuTicks();
        long switchesAfter = server.ContextSwitches();
        long? peakRss = server.StatusBytes("VmHWM");
        var statsAfter = scenario.Proxied ? null : await server.TryGetStatsAsync(cancel);
        if (server.HasExited || backend?.HasExited == true)
        {
            throw new InvalidOperationException("the server exited during the run.");
        }
        string? warning = server.TransportWarning();
        if (owned is not null)
        {
            await owned.StopAsync(StopGrace);
        }

        double cpuSeconds = (double)(ticksAfter - ticksBefore) / _clockTicks;
        long? syscalls = StatsSnapshot.Delta(statsBefore, statsAfter, StatsSnapshot.Syscalls);
        // The server's CPU, syscalls and switches went to every request it answered, the neighbours' too.
        long served = result.Requests + (result.Neighbours?.Requests ?? 0);
        return new RunMetrics
        {
            Scenario = scenario.Name,
            Transport = transport,
            Round = round,
            Requests = result.Requests,
            RequestsPerSecond = result.RequestsPerSecond,
            TransferBytesPerSecond = result.TransferBytesPerSecond,
            PayloadBytesPerSecond = scenario.Throughput != Throughput.Bytes ? null
                : scenario.IsUpload ? result.RequestsPerSecond * scenario.UploadBytes
                : result.TransferBytesPerSecond,
            P50Us = result.P50Us,
            P99Us = result.P99Us,
            CpuSecondsPer100kRequests = served > 0 ? cpuSeconds / served * 100_000 : null,
            PeakRssBytes = peakRss,
            SyscallsPerRequest = syscalls is long s && served > 0 ? (double)s / served : null,
            ContextSwitchesPerRequest = served > 0 ? (double)(switchesAfter - switchesBefore) / served : null,
            Errors = result.Errors + (result.Neighbours?.Errors ?? 0),
            NeighbourRequestsPerSecond = result.Neighbours?.RequestsPerSecond,
            WrongBytes = result.WrongBytes,
            Mix = result.Mix,
            StealPercent = QuietGate.StealPercent(machineBefore, machineAfter),
            Note = warning,
        };
    }

    private async Task<RunMetrics> RunIdleAsync(Scenario scenario, string transport, int round, CancellationToken cancel)
    {
        await using var server = await ServerProcess.StartAsync(_dotnet, _dll, transport, cancel);
        if (_options.WarmupSeconds > 0)
        {
            await _clients.RunAsync(scenario, server.BaseUrl, _options.WarmupSeconds, cancel, latency: false);
        }
        await Task.Delay(TimeSpan.FromSeconds(1), cancel);
        long rssBefore = server.StatusBytes("VmRSS") ?? throw new InvalidOperationException("no VmRSS in /proc/PID/status");

        using var pool = new IdleConnectionPool();
        await pool.OpenAsync(server.Port, scenario.PathAndQuery, _maxIdleConnections, parallelism: 100, cancel);
        await Task.Delay(TimeSpan.FromSeconds(2), cancel);
        long rssAfter = server.StatusBytes("VmRSS") ?? throw new InvalidOperationException("no VmRSS in /proc/PID/status");

        long ticksBefore = server.CpuTicks();
        await Task.Delay(TimeSpan.FromSeconds(_options.DurationSeconds), cancel);
        long ticksAfter = server.CpuTicks();
        var stats = await server.TryGetStatsAsync(cancel);
        if (server.HasExited)
        {
            throw new InvalidOperationException("the server exited during the run.");
        }

        var notes = new List<string>();
        if (server.TransportWarning() is string warning)
        {
            notes.Add(warning);
        }
        if (pool.Failures > 0)
        {
            notes.Add($"{pool.Failures:N0} of {_maxIdleConnections:N0} connections failed (first: {pool.FirstError})");
        }
        if (stats?.Counters.TryGetValue("connectionsActive", out long active) == true && Math.Abs(active - pool.Count) > pool.Count / 100 + 1)
        {
            notes.Add($"the server reported connectionsActive={active:N0} with {pool.Count:N0} held");
        }
        int held = pool.Count;
        pool.Dispose();
        await server.StopAsync(StopGrace);

        return new RunMetrics
        {
            Scenario = scenario.Name,
            Transport = transport,
            Round = round,
            IdleConnectionsTarget = _maxIdleConnections,
            IdleConnectionsOpened = held,
            RssBeforeBytes = rssBefore,
            RssAfterBytes = rssAfter,
            IdleCpuPercent = (double)(ticksAfter - ticksBefore) / _clockTicks / _options.DurationSeconds * 100,
            Errors = pool.Failures,
            Failed = held == 0,
            Note = notes.Count > 0 ? string.Join("; ", notes) : null,
        };
    }

    private async Task<StraceCheck> RunStraceAsync(string transport, CancellationToken cancel)
    {
        var scenario = Scenarios.Plaintext64;
        string summaryFile = Path.Combine(_workDir, $"strace-{transport}.txt");
        File.Delete(summaryFile);
        try
        {
            await using var server = await ServerProcess.StartAsync(_dotnet, _dll, transport, cancel);
            if (_options.WarmupSeconds > 0)
            {
                await _clients.RunAsync(scenario, server.BaseUrl, _options.WarmupSeconds, cancel, latency: false);
            }
            var (summary, result) = await StraceRunner.TraceAsync(_strace!, server.Pid, summaryFile,
                () => _clients.RunAsync(scenario, server.BaseUrl, _options.StraceSeconds, cancel, latency: false), cancel);
            await server.StopAsync(StopGrace);
            return new StraceCheck
            {
                Transport = transport,
                Requests = result.Requests,
                TotalSyscalls = summary.TotalCalls,
                TopSyscalls = summary.Top(5).Select(s => (s.Name, s.Calls)).ToList(),
            };
        }
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            return new StraceCheck { Transport = transport, Error = e.Message.Split('\n')[0] };
        }
    }

    private static string Describe(Scenario scenario, RunMetrics r)
    {
        if (r.Failed)
        {
            return r.Note ?? "FAILED";
        }
        string text = scenario.Client == LoadClient.IdleConnections
            ? $"{r.IdleConnectionsOpened:N0} held, RSS {Mib(r.RssBeforeBytes)} → {Mib(r.RssAfterBytes)} MiB = {r.RssBytesPerConnection:N0} B/conn, idle CPU {r.IdleCpuPercent:F1}%"
            : (scenario.Throughput == Throughput.Bytes ? $"{r.PayloadBytesPerSecond / 1e9:F2} GB/s ({r.RequestsPerSecond:N0} req/s)" : $"{r.RequestsPerSecond:N0} req/s")
              + $", p50 {Ms(r.P50Us)}, p99 {Ms(r.P99Us)}, CPU {Num(r.CpuSecondsPer100kRequests, "F2")} s/100k req, peak RSS {Mib(r.PeakRssBytes)} MiB, syscalls/req {Num(r.SyscallsPerRequest, "F2")}"
              + (r.Errors > 0 ? $", {r.Errors:N0} errors" : "")
              + (r.NeighbourRequestsPerSecond is double n ? $"; neighbours {n:N0} req/s" : "")
              + (r.WrongBytes is long wrong ? $"; {wrong:N0} wrong bytes, {r.Errors:N0} failed requests; {r.Mix}" : "");
        return r.Note is null ? text : $"{text}  [{r.Note}]";
    }

    private static string Ms(double? us) => us is double v ? (v / 1000).ToString("F2", CultureInfo.InvariantCulture) + " ms" : "n/a";

    private static string Mib(long? bytes) => bytes is long b ? (b / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "n/a";

    private static string Num(double? value, string format) => value is double v ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";
}
