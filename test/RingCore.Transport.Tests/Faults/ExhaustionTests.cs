using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// Running out of file descriptors. test/RingCore.FallbackProbe serves on RingCore in a child process whose soft
/// RLIMIT_NOFILE is low (--nofile 512) and whose free fd numbers the test then uses up but N (probe command
/// "fill N"): the (N+1)th connection makes the multishot accept fail with EMFILE.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ExhaustionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const string AcceptPausedPrefix = "warn: RingCore.Transport[8] Accepting on ";
    private const string Body = "fallback-probe";

    [Fact]
    public async Task EmfilePausesAcceptWhileOpenConnectionsAreServedAndAcceptResumesWhenFdsComeBack()
    {
        const int Headroom = 4;
        // A .NET process cannot start a thread without free fds (it fails fast with "Out of memory."), so the
        // probe must create none while they are gone: "fill" starts its thread-pool workers beforehand, and the
        // runtime's on-demand threads are switched off (tiered compilation's background worker, background GC's).
        await using var probe = ProbeProcess.Start("none", "Throw", ["--nofile", "512"],
            new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0", ["DOTNET_gcConcurrent"] = "0" });
        string url = await probe.WaitUntilListeningAsync();
        int idleSockets = probe.SocketFdCount(); // the listening sockets (and the runtime's diagnostics socket)
        var opened = new List<ProbeClient>(); // every client, disposed at the end whatever happens
        ProbeClient Open()
        {
            var client = new ProbeClient(url);
            opened.Add(client);
            return client;
        }
        var idle = new List<ProbeClient>();
        var pending = new List<(ProbeClient Client, Task<string> Response)>();
        try
        {
            // Warm the probe up before fds run short: a connection served and closed (the runtime opens
            // assemblies lazily, and could not once fds are gone), then the keep-alive connection.
            using (var warmUp = Open())
            {
                Assert.Equal(Body, await warmUp.GetAsync().WaitAsync(Timeout));
            }
            ProbeClient keepAlive = Open();
            Assert.Equal(Body, await keepAlive.GetAsync().WaitAsync(Timeout));
            Assert.Equal(Body, await keepAlive.GetAsync().WaitAsync(Timeout));
            await probe.WaitForSocketCountAsync(idleSockets + 1, Timeout); // the warm-up connection is closed

            // Use up every fd number below the probe's soft limit (512, set at its start) but Headroom.
            int fromLine = probe.StdoutLineCount;
            await probe.SendCommandAsync($"fill {Headroom}");
            string filled = await probe.WaitForLineAsync(l => l.StartsWith("FILL", StringComparison.Ordinal), Timeout, fromLine, "the answer to fill");
            Assert.StartsWith("FILLED soft=512 ", filled);
            Task<string> firstPause = probe.LineAsync(l => l.StartsWith(AcceptPausedPrefix, StringComparison.Ordinal), fromLine);

            // Open connections, one at a time, until one is not served: each costs the server exactly one fd.
            while (pending.Count == 0)
            {
                Assert.True(idle.Count <= Headroom, $"{idle.Count} connections were served with only {Headroom} fds to spare.\n{Diagnostics(probe)}");
                ProbeClient client = Open();
                Task<string> response = client.GetAsync();
                Task<Task<string>> either = Task.WhenAny(response, firstPause);
                await WithinAsync(either, probe, $"connection {idle.Count + 1}: a response or the pause warning");
                Task first = await either;
                if (first == response)
                {
                    Assert.Equal(Body, await response);
                    idle.Add(client);
                }
                else
                {
                    pending.Add((client, response));
                }
            }
            Assert.True(idle.Count == Headroom, $"{idle.Count} connections were served with {Headroom} fds to spare.\n{Diagnostics(probe)}");

            // A second connection that cannot be accepted either.
            ProbeClient second = Open();
            pending.Add((second, second.GetAsync()));

            // Both connects completed at TCP level (the kernel's backlog holds them), but nobody answers.
            foreach (var (client, response) in pending)
            {
                await WithinAsync(client.Connected, probe, "the TCP connect of a connection beyond the limit");
                Assert.False(response.IsCompleted, $"a connection beyond the fd limit was answered.\n{probe.Transcript}");
            }
            Assert.Equal(idleSockets + 1 + Headroom, probe.SocketFdCount()); // at the limit: no fd for the pending ones

            string pause = await firstPause;
            Assert.Contains("is paused for", pause);
            Assert.Contains("Too many open files", pause);
            Assert.Contains("Existing connections keep being served", pause);
            Assert.Contains($"127.0.0.1:{new Uri(url).Port}", pause);

            // The open keep-alive connection goes on being served.
            for (int i = 0; i < 5; i++)
            {
                Assert.Equal(Body, await keepAlive.GetAsync().WaitAsync(Timeout));
            }

            // While accepting is paused the server retries on a ring timeout, it does not spin: measure its CPU use.
            TimeSpan cpuBefore = probe.CpuTime();
            var wall = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(2)); // a measurement window, not synchronisation
            TimeSpan cpuUsed = probe.CpuTime() - cpuBefore;
            double share = cpuUsed / wall.Elapsed;
            Assert.True(share < 0.5, $"the blocked server used {share:P0} of a core ({cpuUsed.TotalMilliseconds} ms CPU in {wall.ElapsedMilliseconds} ms).");
            Assert.Equal(1, PauseLines(probe)); // one warning for the whole streak, however often accepting is retried
            Assert.All(pending, p => Assert.False(p.Response.IsCompleted, "a pending connection was answered while no fd was free."));

            // Give fds back: the paused accept resumes and the waiting connections are served.
            foreach (ProbeClient client in idle)
            {
                client.Dispose();
            }
            idle.Clear();
            foreach (var (_, response) in pending)
            {
                Assert.Equal(Body, await response.WaitAsync(Timeout));
            }
            using (var fresh = Open())
            {
                Assert.Equal(Body, await fresh.GetAsync().WaitAsync(Timeout));
            }
            Assert.Equal(Body, await keepAlive.GetAsync().WaitAsync(Timeout));
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.IAssertionException)
        {
            Assert.Fail($"{ex}\n{Diagnostics(probe)}");
        }
        finally
        {
            foreach (ProbeClient client in opened)
            {
                client.Dispose();
            }
        }

        await probe.CloseStdinAndAssertCleanExitAsync();
        Assert.DoesNotContain(probe.StdoutLines, l => l.StartsWith("warn:", StringComparison.Ordinal) && !l.StartsWith(AcceptPausedPrefix, StringComparison.Ordinal));
        Assert.DoesNotContain(probe.StdoutLines, l => l.Contains("RingCore.Transport[9]", StringComparison.Ordinal)); // accepting never stopped for good
    }

    private static async Task WithinAsync(Task task, ProbeProcess probe, string what)
    {
        try
        {
            await task.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{what} did not complete within {Timeout.TotalSeconds} s.\n{Diagnostics(probe)}");
        }
    }

    /// <summary>The probe's output and its open fds, for failure messages.</summary>
    private static string Diagnostics(ProbeProcess probe)
    {
        string fds;
        try
        {
            fds = string.Join('\n', Directory.GetFiles($"/proc/{probe.Pid}/fd")
                .Select(f => (Fd: int.Parse(Path.GetFileName(f), System.Globalization.CultureInfo.InvariantCulture), Target: new FileInfo(f).LinkTarget))
                .OrderBy(f => f.Fd).Select(f => $"{f.Fd} {f.Target}"));
        }
        catch (Exception ex)
        {
            fds = ex.Message;
        }
        return $"{probe.Transcript}\n--- probe fds ---\n{fds}";
    }

    private static int PauseLines(ProbeProcess probe) => probe.StdoutLines.Count(l => l.StartsWith(AcceptPausedPrefix, StringComparison.Ordinal));

    /// <summary>
    /// An HttpClient that holds one keep-alive connection to the probe and says when its TCP connect has
    /// completed (a connect completes from the listen backlog even when the server cannot accept).
    /// </summary>
    private sealed class ProbeClient : IDisposable
    {
        private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly HttpClient _client;

        public ProbeClient(string url)
        {
            var handler = new SocketsHttpHandler
            {
                MaxConnectionsPerServer = 1,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                    _connected.TrySetResult();
                    return new NetworkStream(socket, ownsSocket: true);
                },
            };
            _client = new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        }

        public Task Connected => _connected.Task;

        public Task<string> GetAsync() => _client.GetStringAsync("/");

        public void Dispose() => _client.Dispose();
    }
}
