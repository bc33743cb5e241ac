using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RingCore.BenchmarkRunner.Parsing;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>One sample-app server process on a fresh loopback port.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    public const string ListeningMarker = "Now listening on:";
    private const string FallbackMarker = "falls back to Kestrel's Sockets transport";
    private const string RingCoreMarker = "RingCore listening on";

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HttpClient _http;
    private bool _stopped;

    private ServerProcess(Process process, int port, string transport, bool tls, bool http2Only)
    {
        _process = process;
        Port = port;
        Transport = transport;
        BaseUrl = $"{(tls ? "https" : "http")}://127.0.0.1:{port}";
        var handler = new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1) };
        if (tls)
        {
            // The runner's own self-signed certificate for this session.
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        _http = new HttpClient(handler)
        {
            BaseAddress = new Uri(BaseUrl),
            Timeout = TimeSpan.FromSeconds(5),
        };
        if (http2Only)
        {
            // An HTTP/2-only cleartext endpoint (h2c scenarios) answers /_stats only with prior knowledge.
            _http.DefaultRequestVersion = System.Net.HttpVersion.Version20;
            _http.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
    }

    public int Port { get; }
    public string Transport { get; }
    public string BaseUrl { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The command the runner starts (for the report), with PORT and TRANSPORT as placeholders.</summary>
    public static string CommandTemplate(string dotnet, string dll) =>
        $"{dotnet} {dll} --urls http://127.0.0.1:PORT --transport TRANSPORT [SETTINGS] [SCENARIO ARGUMENTS]";

    /// <summary>
    /// A transport as --transports names it: "ringcore", or a variant with sample-app settings,
    /// "ringcore@batch-wait-us=100" or "ringcore@rings=1+batch-wait-us=0".
    /// </summary>
    public static (string Transport, IReadOnlyList<string> Settings) ParseVariant(string variant)
    {
        int at = variant.IndexOf('@', StringComparison.Ordinal);
        if (at < 0)
        {
            return (variant, []);
        }
        var settings = new List<string>();
        foreach (string pair in variant[(at + 1)..].Split('+', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"'{pair}' in '{variant}' is not name=value.");
            }
            settings.Add($"--{pair[..eq]}");
            settings.Add(pair[(eq + 1)..]);
        }
        return (variant[..at], settings);
    }

    public static async Task<ServerProcess> StartAsync(string dotnet, string dll, string transport, CancellationToken cancel) =>
        await StartAsync(dotnet, dll, transport, [], tls: false, http2Only: false, cancel);

    /// <param name="transport">A transport or a variant (<see cref="ParseVariant"/>).</param>
    /// <param name="scenarioArguments">What the scenario needs (Kestrel configuration: HTTP/2 only, a certificate).</param>
    /// <param name="tls">Listen on https:// (the scenario's arguments carry the certificate).</param>
    /// <param name="http2Only">The endpoint speaks HTTP/2 only (h2c): the runner's own requests use prior knowledge.</param>
    public static async Task<ServerProcess> StartAsync(string dotnet, string dll, string transport, IReadOnlyList<string> scenarioArguments, bool tls,
        bool http2Only, CancellationToken cancel)
    {
        var (baseTransport, settings) = ParseVariant(transport);
        Exception? last = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int port = FreePort();
            var psi = new ProcessStartInfo(dotnet)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            string scheme = tls ? "https" : "http";
            foreach (string a in (string[])[dll, "--urls", $"{scheme}://127.0.0.1:{port}", "--transport", baseTransport, .. settings, .. scenarioArguments])
            {
                psi.ArgumentList.Add(a);
            }
            var process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start the sample app.");
            var server = new ServerProcess(process, port, transport, tls, http2Only);
            process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
            process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await server.WaitListeningAsync(TimeSpan.FromSeconds(60), cancel);
                return server;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancel.IsCancellationRequested)
            {
                last = e;
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
        throw new InvalidOperationException($"The sample app did not start ({transport}): {last?.Message}", last);
    }

    private async Task WaitListeningAsync(TimeSpan timeout, CancellationToken cancel)
    {
        var exited = _process.WaitForExitAsync(cancel);
        var done = await Task.WhenAny(_listening.Task, exited, Task.Delay(timeout, cancel));
        cancel.ThrowIfCancellationRequested();
        if (done == _listening.Task)
        {
            return;
        }
        if (done == exited)
        {
            throw new InvalidOperationException($"the server exited with code {_process.ExitCode} before listening. Log:\n{Log}");
        }
        throw new TimeoutException($"the server did not log '{ListeningMarker}' within {timeout.TotalSeconds:F0} s. Log:\n{Log}");
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            if (_log.Length < 1_000_000)
            {
                _log.Append(line).Append('\n');
            }
        }
        if (line.Contains(ListeningMarker, StringComparison.Ordinal))
        {
            _listening.TrySetResult();
        }
    }

    /// <summary>A warning about this run when a RingCore transport did not actually run on io_uring.</summary>
    public string? TransportWarning()
    {
        if (!Transport.StartsWith("ringcore", StringComparison.Ordinal))
        {
            return null;
        }
        string log = Log;
        if (log.Contains(FallbackMarker, StringComparison.Ordinal))
        {
            return "RingCore FELL BACK to Kestrel Sockets (io_uring unavailable): this run measured Sockets.";
        }
        return log.Contains(RingCoreMarker, StringComparison.Ordinal) ? null : "the server did not log 'RingCore listening on'.";
    }

    public long CpuTicks() => ProcFsParser.CpuTicks(File.ReadAllText($"/proc/{Pid}/stat"));

    public long? StatusBytes(string field) => ProcFsParser.StatusBytes(File.ReadAllText($"/proc/{Pid}/status"), field);

    /// <summary>
    /// Context switches of all the server's threads so far (summed over /proc/PID/task; a thread that exits takes its
    /// count with it, so take the delta over a window in which the server's threads live on, as under steady load).
    /// </summary>
    public long ContextSwitches()
    {
        long total = 0;
        foreach (string task in Directory.EnumerateDirectories($"/proc/{Pid}/task"))
        {
            try
            {
                total += ProcFsParser.ContextSwitches(File.ReadAllText(Path.Combine(task, "status"))) ?? 0;
            }
            catch (IOException)
            {
                // The thread exited between the listing and the read.
            }
        }
        return total;
    }

    /// <summary>GET /_stats, or null when the app does not serve it (or answers something else).</summary>
    public async Task<StatsSnapshot?> TryGetStatsAsync(CancellationToken cancel)
    {
        try
        {
            using var response = await _http.GetAsync("/_stats", cancel);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }
            return StatsSnapshot.Parse(await response.Content.ReadAsStringAsync(cancel));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException or System.Text.Json.JsonException)
        {
            cancel.ThrowIfCancellationRequested();
            return null;
        }
    }

    public async Task<string> GetStringAsync(string pathAndQuery, CancellationToken cancel) => await _http.GetStringAsync(pathAndQuery, cancel);

    /// <summary>SIGTERM, then a kill if it has not exited within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        _http.Dispose();
        if (_process.HasExited)
        {
            return;
        }
        Native.Signal(_process.Id, Native.SigTerm);
        using var cts = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Gone meanwhile.
            }
            await _process.WaitForExitAsync(CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(15));
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
