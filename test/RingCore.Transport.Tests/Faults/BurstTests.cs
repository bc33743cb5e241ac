using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;
using RingCore.Transport.Threading;
using Xunit.Abstractions;

namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// Bursts: many pre-connected clients released at one barrier, all sending at the same instant. The ring must
/// answer every request (buffer starvation and full queues are ring conditions, not errors), never spin, and be
/// back to idle once the burst is served; and the host must still stop promptly.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BurstTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    internal static readonly byte[] Plaintext = "Hello, World!"u8.ToArray();

    /// <summary>
    /// The livelock reproducer: a tiny SQ and two receive buffers, 32 clients sending at once. Before the loop's
    /// rules, the ENOBUFS re-arm submitted from inside the reap, failed again at once and fed the same reap forever.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TinyQueuesAndTwoBuffersAnswerEveryRequestOfABurstAndGoIdle(bool incrementalBuffers)
    {
        await using var server = await StartPlaintextServerAsync(options =>
        {
            options.RingThreadCount = 1;
            options.SubmissionQueueSize = 8;
            options.CompletionQueueSize = 16;
            options.BufferRingSize = 2;
            options.BufferSize = 512;
            options.IncrementalBuffers = incrementalBuffers;
        });

        using var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, 32);
        for (int round = 0; round < 3; round++) // keep-alive: later requests are served by the same connections
        {
            await burst.SendAllAsync(RawClient.Get("/plaintext"));
            await burst.ExpectAllAsync(1, Plaintext);
        }
        await AssertRingsIdleAsync();
        await StopWithinAsync(server, TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// The reported burst, at the default options: thousands of keep-alive connections per ring, one request each at
    /// the same moment; then the same with pipelined requests and with 64 KiB bodies.
    /// </summary>
    [Theory]
    [InlineData("plaintext", 6_400, 1)]
    [InlineData("pipelined", 6_400, 4)]
    [InlineData("body64k", 2_000, 1)]
    public async Task ABurstFromThousandsOfConnectionsAtTheDefaultsIsAnsweredInFull(string kind, int connections, int perConnection)
    {
        Assert.Null(FdLimit.TryRaise((ulong)(connections * 2 + 1_000)));
        byte[] body = new byte[64 * 1024];
        Random.Shared.NextBytes(body);
        await using var server = await RingServer.StartAsync(async context =>
        {
            if (context.Request.Method == "POST")
            {
                // Echo the length and a checksum of the body read to its end.
                long length = 0;
                uint sum = 0;
                var buffer = new byte[16 * 1024];
                int n;
                while ((n = await context.Request.Body.ReadAsync(buffer)) > 0)
                {
                    length += n;
                    for (int i = 0; i < n; i++)
                    {
                        sum += buffer[i];
                    }
                }
                byte[] answer = Encoding.ASCII.GetBytes($"{length}:{sum}");
                context.Response.ContentLength = answer.Length;
                await context.Response.Body.WriteAsync(answer);
                return;
            }
            context.Response.ContentLength = Plaintext.Length;
            await context.Response.Body.WriteAsync(Plaintext);
        }, configureTransport: options =>
        {
            options.RingThreadCount = 2; // the defaults on this 2-core machine, fixed so that each ring gets thousands
            options.Backlog = 8192;      // the connect storm before the burst, not the burst itself, needs it
        });

        byte[] request;
        byte[] expected;
        if (kind == "body64k")
        {
            byte[] head = Encoding.ASCII.GetBytes($"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {body.Length}\r\n\r\n");
            request = [.. head, .. body];
            expected = Encoding.ASCII.GetBytes($"{body.Length}:{body.Aggregate(0u, (s, b) => s + b)}");
        }
        else
        {
            request = Enumerable.Repeat(RawClient.Get("/plaintext"), perConnection).SelectMany(r => r).ToArray();
            expected = Plaintext;
        }

        using var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, connections);
        await server.WaitForConnectionsAsync(connections, Timeout);
        var answered = Stopwatch.StartNew();
        await burst.SendAllAsync(request);
        await burst.ExpectAllAsync(perConnection, expected);
        output.WriteLine($"{kind}: {connections} connections × {perConnection} request(s) answered {answered.Elapsed.TotalMilliseconds:F0} ms after the barrier");

        await AssertRingsIdleAsync();
        burst.Dispose();
        await server.WaitForNoConnectionsAsync(Timeout);
        await StopWithinAsync(server, TimeSpan.FromSeconds(5));
        FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
    }

    /// <summary>A CQ much smaller than the burst: completions go through the kernel's overflow list, none is lost.</summary>
    [Fact]
    public async Task ABurstThroughASmallCompletionQueueLosesNothingAndDoesNotSpin()
    {
        await using var server = await StartPlaintextServerAsync(options =>
        {
            options.RingThreadCount = 1;
            options.SubmissionQueueSize = 16;
            options.CompletionQueueSize = 16;
            options.Backlog = 2048;
        });

        using var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, 1_000);
        await burst.SendAllAsync([.. RawClient.Get("/plaintext"), .. RawClient.Get("/plaintext")]);
        await burst.ExpectAllAsync(2, Plaintext);
        output.WriteLine($"CQ overflows observed: {server.Factory.Metrics.Total().CqOverflows}");
        await AssertRingsIdleAsync();
        await StopWithinAsync(server, TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// Partial request, then RST, on thousands of connections: every one is closed at once, none waits for
    /// Kestrel's request-headers timeout. (A multishot recv can lose such a reset in the kernel.)
    /// </summary>
    [Fact]
    public Task EveryConnectionResetAfterAPartialRequestIsClosedPromptly() => ResetAfterPartialRequestsAsync(hooks: null);

    /// <summary>
    /// The same with the kernel made to lose the reset far more often (multishot recvs armed with POLL_FIRST: about
    /// 2 % of these connections, measured, against ~2.5 in 10^4 without): the peer-end poll must still see every one.
    /// </summary>
    [Fact]
    public Task EveryResetIsSeenEvenWhenTheMultishotRecvLosesIt() =>
        ResetAfterPartialRequestsAsync(new RingTestHooks { MultishotReceivePollFirst = true });

    private static async Task ResetAfterPartialRequestsAsync(RingTestHooks? hooks)
    {
        const int Total = 4_000;
        const int Wave = 200;
        await using var server = await StartPlaintextServerAsync(options =>
        {
            options.Backlog = 2048;
            options.TestHooks = hooks;
        });
        byte[] partial = "GET /plaintext HTTP/1.1\r\nHost: lo"u8.ToArray();
        for (int done = 0; done < Total; done += Wave)
        {
            using var wave = await Burst.ConnectAsync(server.LoopbackEndPoint, Wave);
            await wave.SendAllAsync(partial);
            wave.ResetAll();
        }
        // Kestrel's request-headers timeout is 30 s: a lost reset would hold its connection far longer than this.
        await server.WaitForNoConnectionsAsync(TimeSpan.FromSeconds(10));
        FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
    }

    /// <summary>A server answering every request with <see cref="Plaintext"/> and its Content-Length (the raw clients read by it).</summary>
    internal static Task<RingServer> StartPlaintextServerAsync(Action<RingCoreTransportOptions> configure) =>
        RingServer.StartAsync(context =>
        {
            context.Response.ContentLength = Plaintext.Length;
            return context.Response.Body.WriteAsync(Plaintext).AsTask();
        }, configureTransport: configure);

    /// <summary>After a burst the ring threads are back to sleep: a spinning ring would use the whole window.</summary>
    internal static async Task AssertRingsIdleAsync()
    {
        TimeSpan used = await RingThreadCpu.UsedDuringAsync(TimeSpan.FromSeconds(1));
        Assert.True(used < TimeSpan.FromMilliseconds(300), $"the ring threads used {used.TotalMilliseconds} ms of CPU in an idle second");
    }

    internal static async Task StopWithinAsync(RingServer server, TimeSpan limit)
    {
        var stopping = Stopwatch.StartNew();
        await server.StopAsync().WaitAsync(limit + TimeSpan.FromSeconds(30));
        Assert.True(stopping.Elapsed < limit, $"the host took {stopping.Elapsed.TotalSeconds:F1} s to stop");
    }
}

/// <summary>Pre-connected raw clients, released together: every request is in flight at once.</summary>
internal sealed class Burst : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly RawClient[] _clients;

    private Burst(RawClient[] clients) => _clients = clients;

    public static async Task<Burst> ConnectAsync(IPEndPoint endPoint, int count)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var clients = new RawClient[count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 128, CancellationToken = cts.Token },
                async (i, ct) => clients[i] = await RawClient.ConnectAsync(endPoint, ct, bufferSize: 4096));
        }
        catch
        {
            foreach (RawClient? client in clients)
            {
                client?.Dispose();
            }
            throw;
        }
        return new Burst(clients);
    }

    /// <summary>The barrier: every client sends <paramref name="data"/> at once.</summary>
    public Task SendAllAsync(byte[] data, bool ignoreErrors = false) =>
        Task.WhenAll(_clients.Select(async c =>
        {
            try
            {
                await c.SendAsync(data, CancellationToken.None);
            }
            catch (SocketException) when (ignoreErrors)
            {
                // A connection the server has closed.
            }
        })).WaitAsync(Timeout);

    /// <summary>How many clients receive one 200 response with <paramref name="body"/> (the others see their connection end).</summary>
    public async Task<int> CountAnsweredAsync(byte[] body)
    {
        using var cts = new CancellationTokenSource(Timeout);
        int[] answered = await Task.WhenAll(_clients.Select(async client =>
        {
            try
            {
                var (status, received) = await client.ReadResponseAsync(cts.Token);
                return status == 200 && received.AsSpan().SequenceEqual(body) ? 1 : 0;
            }
            catch (Exception ex) when (ex is SocketException or EndOfStreamException)
            {
                return 0;
            }
        }));
        return answered.Sum();
    }

    /// <summary>Every client receives <paramref name="count"/> responses: 200 with <paramref name="body"/>.</summary>
    public async Task ExpectAllAsync(int count, byte[] body)
    {
        using var cts = new CancellationTokenSource(Timeout);
        int answered = 0;
        try
        {
            await Task.WhenAll(_clients.Select(async client =>
            {
                for (int i = 0; i < count; i++)
                {
                    var (status, received) = await client.ReadResponseAsync(cts.Token);
                    Assert.Equal(200, status);
                    Assert.Equal(body, received);
                }
                Interlocked.Increment(ref answered);
            }));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"only {answered} of {_clients.Length} connections got all {count} response(s) within {Timeout.TotalSeconds} s");
        }
    }

    public void ResetAll()
    {
        foreach (RawClient client in _clients)
        {
            client.Reset();
        }
    }

    public void Dispose()
    {
        foreach (RawClient client in _clients)
        {
            client.Dispose();
        }
    }
}
