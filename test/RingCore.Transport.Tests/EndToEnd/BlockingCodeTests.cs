using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RingCore.Transport.Interop;
using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// Existing apps block: sync-over-async on the request body, synchronous I/O switched on per request, handlers
/// that sleep. With the default options each case behaves as under Kestrel's Sockets transport: the blocked request
/// completes when its wait would, and every other connection keeps being served: handlers run on the thread pool,
/// and a ring thread only moves bytes. The blocking request is the second on its keep-alive connection, the one a
/// transport that ran handlers on its ring thread would run there.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BlockingCodeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Ok = "ok"u8.ToArray();

    /// <summary>The transport's real defaults: RingServer fixes 2 rings for other tests; here the default count runs.</summary>
    private static void DefaultOptions(RingCoreTransportOptions options) => options.RingThreadCount = null;

    /// <summary>The defaults, on rings with or without SINGLE_ISSUER (kernels before 6.0 have none).</summary>
    private static void DefaultOptions(RingCoreTransportOptions options, bool singleIssuer)
    {
        DefaultOptions(options);
        options.UseSingleIssuer = singleIssuer;
    }

    [Theory]
    [InlineData(true)]  // Linux 6.1 and later: SINGLE_ISSUER | DEFER_TASKRUN
    [InlineData(false)] // an older kernel's setup (no SINGLE_ISSUER)
    public async Task SyncOverAsyncBodyReadCompletesAndOtherConnectionsAreServedMeanwhile(bool singleIssuer)
    {
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/sync-over-async")
            {
                // The anti-pattern, left over from a migration: .Result on every body read.
                var buffer = new byte[4096];
                long total = 0;
                int n;
                waiting.TrySetResult();
                while ((n = context.Request.Body.ReadAsync(buffer).AsTask().Result) > 0)
                {
                    total += n;
                }
                return WriteAsync(context, Encoding.ASCII.GetBytes(total.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
            return WriteAsync(context, Ok);
        }, configureTransport: options => DefaultOptions(options, singleIssuer));
        using var cts = new CancellationTokenSource(Timeout);

        using var blocking = await KeepAliveAsync(server, cts.Token);
        await blocking.SendAsync("POST /sync-over-async HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + new string('a', 1000), cts.Token);
        await waiting.Task.WaitAsync(Timeout);

        // While the handler waits for the second half, 40 new connections are all served.
        var others = Stopwatch.StartNew();
        using (var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, 40))
        {
            await burst.SendAllAsync(RawClient.Get("/plaintext"));
            await burst.ExpectAllAsync(1, Ok);
        }
        output.WriteLine($"40 other connections served in {others.ElapsedMilliseconds} ms while the handler waited");

        await Task.Delay(300); // the client's pause between the two halves of its body (part of the scenario)
        var rest = Stopwatch.StartNew();
        await blocking.SendAsync(new string('b', 1000), cts.Token);
        var (status, body) = await blocking.ReadResponseAsync(cts.Token);
        Assert.Equal(200, status);
        Assert.Equal("2000", Encoding.ASCII.GetString(body));
        output.WriteLine($"blocked request completed {rest.ElapsedMilliseconds} ms after the rest of its body was sent");
    }

    [Fact]
    public async Task HandlersThatSleepDelayNoOtherRequest()
    {
        using var slept = new CountdownEvent(2);
        await using var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/sleep")
            {
                slept.Signal();
                Thread.Sleep(1500); // a retry helper's sleep
            }
            return WriteAsync(context, Ok);
        }, configureTransport: DefaultOptions);
        using var cts = new CancellationTokenSource(Timeout);

        using var sleeper1 = await KeepAliveAsync(server, cts.Token);
        using var sleeper2 = await KeepAliveAsync(server, cts.Token);
        using var others = await Burst.ConnectAsync(server.LoopbackEndPoint, 40);
        await others.SendAllAsync(RawClient.Get("/warm-up"));
        await others.ExpectAllAsync(1, Ok);

        await sleeper1.SendAsync(RawClient.Get("/sleep"), cts.Token);
        await sleeper2.SendAsync(RawClient.Get("/sleep"), cts.Token);
        Assert.True(slept.Wait(Timeout));

        // 40 keep-alive requests while both handlers sleep: each is answered long before the sleeps end.
        var sent = Stopwatch.StartNew();
        await others.SendAllAsync(RawClient.Get("/plaintext"));
        await others.ExpectAllAsync(1, Ok);
        TimeSpan slowest = sent.Elapsed;
        output.WriteLine($"40 requests during two 1.5 s sleeps: all answered within {slowest.TotalMilliseconds:F0} ms");
        Assert.True(slowest < TimeSpan.FromSeconds(1), $"other requests waited {slowest.TotalMilliseconds:F0} ms for the sleeping handlers");

        Assert.Equal(Ok, (await sleeper1.ReadResponseAsync(cts.Token)).Body);
        Assert.Equal(Ok, (await sleeper2.ReadResponseAsync(cts.Token)).Body);
    }

    [Fact]
    public async Task PerRequestSynchronousIoReadsATrickledBodyAndWritesToASlowReader()
    {
        const int UploadSize = 1024 * 1024;
        const int DownloadSize = 4 * 1024 * 1024;
        await using var server = await RingServer.StartAsync(context =>
        {
            // Switched on for this request only, as apps do around a legacy synchronous API.
            if (context.Request.Path == "/first")
            {
                return WriteAsync(context, Ok);
            }
            context.Features.Get<IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
            if (context.Request.Path == "/upload")
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[8192];
                int n;
                while ((n = context.Request.Body.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer.AsSpan(0, n));
                }
                byte[] answer = Encoding.ASCII.GetBytes(Convert.ToHexString(hash.GetHashAndReset()));
                context.Response.ContentLength = answer.Length;
                context.Response.Body.Write(answer);
                return Task.CompletedTask;
            }
            // A synchronous 4 MiB write: it waits whenever the output pipe is full, i.e. on the slow reader.
            context.Response.ContentLength = DownloadSize;
            var chunk = new byte[64 * 1024];
            for (int written = 0; written < DownloadSize; written += chunk.Length)
            {
                Payload.Fill(7, written, chunk);
                context.Response.Body.Write(chunk);
            }
            return Task.CompletedTask;
        }, configureTransport: DefaultOptions);
        using var cts = new CancellationTokenSource(Timeout);

        byte[] upload = RandomNumberGenerator.GetBytes(UploadSize);
        using var client = await KeepAliveAsync(server, cts.Token);
        await client.SendAsync($"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {UploadSize}\r\n\r\n", cts.Token);
        for (int sent = 0; sent < UploadSize; sent += 16 * 1024)
        {
            await client.SendAsync(upload.AsMemory(sent, 16 * 1024), cts.Token);
            await Task.Yield();
        }
        var (status, body) = await client.ReadResponseAsync(cts.Token);
        Assert.Equal(200, status);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(upload)), Encoding.ASCII.GetString(body));

        // The slow reader: a small receive buffer, read in small pieces with pauses.
        client.Socket.ReceiveBufferSize = 16 * 1024;
        await client.SendAsync(RawClient.Get("/download"), cts.Token);
        var (downloadStatus, headers) = await client.ReadHeadersAsync(cts.Token);
        Assert.Equal(200, downloadStatus);
        Assert.Equal(DownloadSize.ToString(System.Globalization.CultureInfo.InvariantCulture), headers["Content-Length"]);
        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long read = 0;
        await client.ReadBodyAsync(DownloadSize, piece =>
        {
            received.AppendData(piece);
            if ((read += piece.Length) % (512 * 1024) < piece.Length)
            {
                Thread.Sleep(20); // the reader is slow: the server's synchronous writes wait on it
            }
        }, cts.Token);
        Assert.Equal(Payload.Sha256(7, DownloadSize), Convert.ToHexString(received.GetHashAndReset()));
    }

    /// <summary>
    /// Blocking under load: 1,000 keep-alive connections send at the same instant, round after round, and every
    /// fourth handler sleeps 20 ms while completions pour in. Every request is answered, the rings keep one thread
    /// each, and afterwards no connection, fd or thread is left.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)] // as on a kernel without SINGLE_ISSUER
    public async Task ManyConnectionsWhoseHandlersSometimesBlockAreAllAnswered(bool singleIssuer)
    {
        const int Connections = 1000, Rounds = 4;
        int requests = 0;
        int fdsBefore = ProcessResources.TransportFdCount();
        var server = await RingServer.StartAsync(context =>
        {
            if (Interlocked.Increment(ref requests) % 4 == 0)
            {
                Thread.Sleep(20); // a synchronous driver's round trip
            }
            return WriteAsync(context, Ok);
        }, configureTransport: options => DefaultOptions(options, singleIssuer));

        try
        {
            using (var clients = await Burst.ConnectAsync(server.LoopbackEndPoint, Connections))
            {
                for (int round = 0; round < Rounds; round++)
                {
                    await clients.SendAllAsync(RawClient.Get("/maybe-sleep"));
                    await clients.ExpectAllAsync(1, Ok);
                }
            }
            int ringThreads = ProcessResources.RingThreadCount();
            output.WriteLine($"{Connections * Rounds} requests, {ringThreads} ring threads afterwards");
            Assert.Equal(server.Factory.Group.Threads.Count, ringThreads);
            await server.WaitForNoConnectionsAsync(Timeout);
        }
        finally
        {
            await server.DisposeAsync();
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    /// <summary>
    /// Abort from another thread takes effect on the socket at once, even while the connection's ring thread is
    /// held: by default a handler blocks a thread-pool thread, not the ring thread; with UnsafeInline it holds the
    /// ring thread itself, for as long as it blocks.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AbortFromAnotherThreadResetsAtOnceWhileTheRingThreadIsHeld(bool unsafeInline)
    {
        using var release = new ManualResetEventSlim();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IConnectionLifetimeFeature? victimLifetime = null;
        await using var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/remember")
            {
                victimLifetime = context.Features.Get<IConnectionLifetimeFeature>();
            }
            else if (context.Request.Path == "/hold")
            {
                holding.TrySetResult();
                release.Wait(Timeout); // UnsafeInline: blocks the ring thread that received it
            }
            return WriteAsync(context, Ok);
        }, configureTransport: options =>
        {
            options.RingThreadCount = 1;
            if (unsafeInline)
            {
                options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline;
            }
        });
        using var cts = new CancellationTokenSource(Timeout);

        using var victim = await KeepAliveAsync(server, cts.Token, "/remember");
        using var holder = await KeepAliveAsync(server, cts.Token);
        await holder.SendAsync(RawClient.Get("/hold"), cts.Token);
        await holding.Task.WaitAsync(Timeout);

        var resetSeen = Stopwatch.StartNew();
        Task<(byte[] Data, bool Reset)> victimEnd = victim.ReadToEndAsync(cts.Token);
        await Task.Run(() => victimLifetime!.Abort());
        var (_, reset) = await victimEnd;
        resetSeen.Stop();
        output.WriteLine($"the peer saw the reset {resetSeen.Elapsed.TotalMilliseconds:F1} ms after Abort, with the ring thread held");
        Assert.True(reset, "the aborted connection was closed without RST");
        Assert.True(resetSeen.Elapsed < TimeSpan.FromSeconds(1), $"the reset took {resetSeen.Elapsed.TotalMilliseconds:F0} ms");

        release.Set();
        Assert.Equal(Ok, (await holder.ReadResponseAsync(cts.Token)).Body);
        holder.Dispose();
        await server.WaitForNoConnectionsAsync(Timeout);
    }

    /// <summary>
    /// Host stop while a handler blocks forever: StopAsync returns within the shutdown timeout, aborting what
    /// remains, and leaves no ring thread and no transport fd behind (the blocked thread-pool thread stays blocked).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StopReturnsWithinTheShutdownTimeoutWhileAHandlerBlocksForever(bool unsafeInline)
    {
        using var never = new ManualResetEventSlim();
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool blockedOnRingThread = false;
        int fdsBefore = ProcessResources.TransportFdCount();
        int ringsBefore = ProcessResources.IoUringFdCount();
        var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/forever")
            {
                blockedOnRingThread = HandlerGate.OnRingThread;
                blocked.TrySetResult();
                never.Wait(TimeSpan.FromSeconds(60)); // "forever" for this test: far beyond every timeout below
            }
            return WriteAsync(context, Ok);
        }, configureTransport: options =>
        {
            options.RingThreadCount = 1;
            if (unsafeInline)
            {
                options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline;
            }
        }, configureServices: services => services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2)));
        server.ExpectsRingStopTimeout = unsafeInline; // the blocked handler holds the ring thread itself
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            using var client = await KeepAliveAsync(server, cts.Token);
            await client.SendAsync(RawClient.Get("/forever"), cts.Token);
            await blocked.Task.WaitAsync(Timeout);

            var stopping = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(Timeout);
            output.WriteLine($"stopped in {stopping.Elapsed.TotalSeconds:F2} s with a handler blocked (UnsafeInline: {unsafeInline})");
            // Shutdown timeout 2 s, then Kestrel aborts what remains (waiting 1 s for it) and the transport stops at once.
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"stop took {stopping.Elapsed.TotalSeconds:F1} s");
            var (_, _) = await client.ReadToEndAsync(cts.Token); // the client's connection was closed
            client.Dispose();
            Assert.Equal(unsafeInline, blockedOnRingThread);
            if (!unsafeInline)
            {
                // While the handler still blocks its thread-pool thread: every socket, eventfd and io_uring is closed
                // and no ring thread is left.
                Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
                Assert.Equal(ringsBefore, ProcessResources.IoUringFdCount());
                Assert.Equal(0, ProcessResources.RingThreadCount());
            }
        }
        finally
        {
            never.Set();
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
        await server.DisposeAsync();
    }

    /// <summary>
    /// A handler that blocks only because the server stops: it waits for a request body that never comes, and when
    /// the shutdown timeout aborts its connection, its catch block blocks for good. That continuation is resumed by
    /// the ring (the aborted receive completes the input pipe) in the middle of the ring's stop, and runs on the
    /// thread pool, so the ring finishes stopping and closes every fd, and the host's stop returns within its timeout.
    /// </summary>
    [Fact]
    public async Task StopReturnsWhenTheAbortItSendsResumesAHandlerThatThenBlocks()
    {
        using var never = new ManualResetEventSlim();
        var waitingForBody = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blockedOn = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        int fdsBefore = ProcessResources.TransportFdCount();
        int ringsBefore = ProcessResources.IoUringFdCount();
        var server = await RingServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/body-never-comes")
            {
                waitingForBody.TrySetResult();
                try
                {
                    await context.Request.Body.ReadExactlyAsync(new byte[100]);
                }
                catch (Exception)
                {
                    blockedOn.TrySetResult(Thread.CurrentThread.Name);
                    never.Wait(TimeSpan.FromSeconds(60)); // "forever" for this test: far beyond every timeout below
                }
                return;
            }
            await WriteAsync(context, Ok);
        }, configureTransport: options => options.RingThreadCount = 1,
           configureServices: services => services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1)));
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            using var client = await KeepAliveAsync(server, cts.Token);
            await client.SendAsync("POST /body-never-comes HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", cts.Token);
            await waitingForBody.Task.WaitAsync(Timeout);

            var stopping = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(Timeout);
            output.WriteLine($"stopped in {stopping.Elapsed.TotalSeconds:F2} s");
            // Shutdown timeout 1 s, then Kestrel aborts what remains (waiting 1 s for it) and the transport stops.
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"stop took {stopping.Elapsed.TotalSeconds:F1} s");
            string? thread = await blockedOn.Task.WaitAsync(Timeout);
            Assert.DoesNotContain("RingCore ring", thread ?? "", StringComparison.Ordinal); // resumed by the ring, run on the pool
            var (_, _) = await client.ReadToEndAsync(cts.Token); // the client's connection was closed
            client.Dispose();
            // While the handler still blocks: every socket, eventfd and io_uring is closed, and no ring thread is left.
            await Polling.UntilAsync(() => ProcessResources.TransportFdCount() == fdsBefore, TimeSpan.FromSeconds(10),
                () => $"{ProcessResources.TransportFdCount() - fdsBefore} transport fds left while the handler blocks");
            Assert.Equal(ringsBefore, ProcessResources.IoUringFdCount());
            Assert.Equal(0, ProcessResources.RingThreadCount());
        }
        finally
        {
            never.Set();
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
        await server.DisposeAsync();
    }

    /// <summary>
    /// Short blocking, as real apps do it: 4 keep-alive connections loop on a handler that sleeps 5 ms (a synchronous
    /// query on a LAN) while 64 others upload, download and echo bodies on the same rings. Every byte is checked, no
    /// request is lost, and the sleepers hold only their own requests: the others finish while they still loop.
    /// </summary>
    [Fact]
    public async Task ConnectionsThatBlockBrieflyInALoopLoseNoByteOfTheirNeighbours()
    {
        const int Sleepers = 4, Others = 64, Rounds = 6, Size = 96 * 1024;
        int fdsBefore = ProcessResources.TransportFdCount();
        await using (var server = await RingServer.StartAsync(async context =>
        {
            switch (context.Request.Path.Value)
            {
                case "/sleep":
                    Thread.Sleep(5);
                    await WriteAsync(context, Ok);
                    break;
                case "/upload": // answers the body's length and SHA-256
                    using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
                    {
                        var buffer = new byte[16 * 1024];
                        long length = 0;
                        int n;
                        while ((n = await context.Request.Body.ReadAsync(buffer)) > 0)
                        {
                            hash.AppendData(buffer.AsSpan(0, n));
                            length += n;
                        }
                        await WriteAsync(context, Encoding.ASCII.GetBytes($"{length} {Convert.ToHexString(hash.GetHashAndReset())}"));
                    }
                    break;
                case "/download": // ?seed=S: Size bytes of payload S, in 16 KiB writes
                    {
                        ulong seed = ulong.Parse(context.Request.Query["seed"]!, CultureInfo.InvariantCulture);
                        context.Response.ContentLength = Size;
                        var chunk = new byte[16 * 1024];
                        for (int offset = 0; offset < Size; offset += chunk.Length)
                        {
                            Payload.Fill(seed, offset, chunk);
                            await context.Response.Body.WriteAsync(chunk);
                        }
                    }
                    break;
                case "/echo":
                    context.Response.ContentLength = context.Request.ContentLength;
                    await context.Request.Body.CopyToAsync(context.Response.Body);
                    break;
                default:
                    await WriteAsync(context, Ok);
                    break;
            }
        }, configureTransport: DefaultOptions))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var sleepers = new List<RawClient>();
            var others = new List<RawClient>();
            try
            {
                for (int i = 0; i < Sleepers; i++)
                {
                    sleepers.Add(await KeepAliveAsync(server, cts.Token));
                }
                for (int i = 0; i < Others; i++)
                {
                    others.Add(await KeepAliveAsync(server, cts.Token));
                }

                using var othersDone = new CancellationTokenSource();
                long sleeps = 0;
                Task[] sleeping = [.. sleepers.Select(client => Task.Run(async () =>
                {
                    while (!othersDone.IsCancellationRequested)
                    {
                        await client.SendAsync(RawClient.Get("/sleep"), cts.Token);
                        Assert.Equal(Ok, (await client.ReadResponseAsync(cts.Token)).Body);
                        Interlocked.Increment(ref sleeps);
                    }
                }))];

                long sleepsBeforeOthers = Interlocked.Read(ref sleeps);
                Task[] transfers = [.. others.Select((client, index) => Task.Run(async () =>
                {
                    for (int round = 0; round < Rounds; round++)
                    {
                        ulong seed = (ulong)(index * Rounds + round + 1);
                        byte[] body = new byte[Size];
                        Payload.Fill(seed, 0, body);
                        switch ((index + round) % 3)
                        {
                            case 0:
                                await client.SendAsync($"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {Size}\r\n\r\n", cts.Token);
                                await client.SendAsync(body, cts.Token);
                                var (status, answer) = await client.ReadResponseAsync(cts.Token);
                                Assert.Equal(200, status);
                                Assert.Equal($"{Size} {Payload.Sha256(seed, Size)}", Encoding.ASCII.GetString(answer));
                                break;
                            case 1:
                                await client.SendAsync(RawClient.Get($"/download?seed={seed}"), cts.Token);
                                var (downloadStatus, downloaded) = await client.ReadResponseAsync(cts.Token);
                                Assert.Equal(200, downloadStatus);
                                Assert.Equal(Payload.Sha256(seed, Size), Convert.ToHexString(SHA256.HashData(downloaded)));
                                break;
                            default:
                                Task send = client.SendAsync(
                                    (byte[])[.. Encoding.ASCII.GetBytes($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {Size}\r\n\r\n"), .. body], cts.Token);
                                var (echoStatus, echoed) = await client.ReadResponseAsync(cts.Token);
                                await send;
                                Assert.Equal(200, echoStatus);
                                Assert.True(body.AsSpan().SequenceEqual(echoed), $"connection {index}, round {round}: the echo differs");
                                break;
                        }
                    }
                }))];
                await Task.WhenAll(transfers).WaitAsync(cts.Token);
                long sleepsDuringOthers = Interlocked.Read(ref sleeps) - sleepsBeforeOthers;
                othersDone.Cancel();
                await Task.WhenAll(sleeping).WaitAsync(cts.Token);
                output.WriteLine($"{Others * Rounds} transfers of {Size / 1024} KiB checked while {Sleepers} connections slept 5 ms {sleepsDuringOthers} times");
                Assert.True(sleepsDuringOthers > 0, "the sleeping connections were not served while the others transferred");
            }
            finally
            {
                sleepers.ForEach(c => c.Dispose());
                others.ForEach(c => c.Dispose());
            }
            await server.WaitForNoConnectionsAsync(Timeout);
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    private static Task WriteAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body).AsTask();
    }

    /// <summary>
    /// A handler that computes instead of blocking (its thread stays runnable) holds a thread-pool thread and a core:
    /// the other connections of its ring are answered while it still runs.
    /// </summary>
    [Fact]
    public async Task AHandlerThatComputesForLongDelaysNoOtherConnection()
    {
        const int Others = 20;
        using var stop = new HandlerGate();
        int fdsBefore = ProcessResources.TransportFdCount();
        await using (var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/compute")
            {
                stop.ReportEntered();
                while (!stop.IsOpen)
                {
                    Thread.SpinWait(1000); // never sleeps: the thread stays runnable
                }
            }
            return WriteAsync(context, Ok);
        }, configureTransport: options => options.RingThreadCount = 1))
        {
            try
            {
                using var cts = new CancellationTokenSource(Timeout);
                using var others = await Burst.ConnectAsync(server.LoopbackEndPoint, Others);
                await others.SendAllAsync(RawClient.Get("/first"));
                await others.ExpectAllAsync(1, Ok);
                using (RawClient computer = await KeepAliveAsync(server, cts.Token))
                {
                    Task<bool> onRingThread = stop.Close();
                    await computer.SendAsync(RawClient.Get("/compute"), cts.Token);
                    Assert.False(await onRingThread.WaitAsync(Timeout), "the computing handler ran on a ring thread");
                    await others.SendAllAsync(RawClient.Get("/while-computing"));
                    await others.ExpectAllAsync(1, Ok); // answered while the handler still computes
                    Assert.False(stop.IsOpen);
                    stop.Open();
                    Assert.Equal(Ok, (await computer.ReadResponseAsync(cts.Token)).Body);
                }
                others.Dispose();
                await server.WaitForNoConnectionsAsync(Timeout);
                FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
            }
            finally
            {
                stop.Open(); // a failed assertion must not leave the handler spinning through the server's stop
            }
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    /// <summary>A raw keep-alive connection that has already had one request answered.</summary>
    private static async Task<RawClient> KeepAliveAsync(RingServer server, CancellationToken cancellationToken, string firstPath = "/first")
    {
        var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cancellationToken);
        await client.SendAsync(RawClient.Get(firstPath), cancellationToken);
        Assert.Equal(Ok, (await client.ReadResponseAsync(cancellationToken)).Body);
        return client;
    }
}
