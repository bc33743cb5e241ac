using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Faults;

/// <summary>Stopping the server: gracefully under load, with connections stuck on backpressure, over and over, side by side.</summary>
[Collection(ServerCollection.Name)]
public sealed class LifecycleTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task GracefulShutdownUnderLoadFinishesTheInFlightRequestAndRefusesNewConnections()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        byte[] slowBody = Pattern(256 * 1024);
        var slowStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseSlow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await using (var server = await RingServer.StartAsync(async context =>
            {
                if (context.Request.Path == "/slow")
                {
                    context.Response.ContentLength = slowBody.Length;
                    slowStarted.TrySetResult();
                    await releaseSlow.Task;
                    await context.Response.Body.WriteAsync(slowBody);
                }
                else
                {
                    await context.Response.WriteAsync("fast");
                }
            },
            // Longer than the test waits for the stop: the stop must end because connections closed, not because time ran out.
            configureServices: services => services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30))))
        {
            const int Hammers = 4;
            var stopRequested = new CancellationTokenSource();
            var warmedUp = Enumerable.Range(0, Hammers).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            var served = new int[Hammers];
            var errorsBeforeStop = new ConcurrentQueue<Exception>();
            Task[] hammers = Enumerable.Range(0, Hammers).Select(i => Task.Run(async () =>
            {
                using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
                while (true)
                {
                    try
                    {
                        Assert.Equal("fast", await client.GetStringAsync("/fast"));
                        if (++served[i] == 20)
                        {
                            warmedUp[i].TrySetResult();
                        }
                    }
                    catch (Exception ex)
                    {
                        if (!stopRequested.IsCancellationRequested)
                        {
                            errorsBeforeStop.Enqueue(ex);
                            warmedUp[i].TrySetException(ex);
                        }
                        return; // after the stop began: the connection was closed or refused
                    }
                }
            })).ToArray();
            await Task.WhenAll(warmedUp.Select(w => w.Task)).WaitAsync(Timeout);

            using var slowClient = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
            Task<byte[]> slow = slowClient.GetByteArrayAsync("/slow");
            await slowStarted.Task.WaitAsync(Timeout);

            stopRequested.Cancel();
            Task stop = server.StopAsync();

            // Every hammer ends: its keep-alive connection is closed after its request and new connects are refused.
            await Task.WhenAll(hammers).WaitAsync(Timeout);
            Assert.Empty(errorsBeforeStop);
            await AssertConnectionRefusedAsync(server.LoopbackEndPoint);

            // The in-flight request holds the stop open until it finishes, and then gets its whole response.
            Assert.False(stop.IsCompleted, "the server stopped with a request in flight");
            releaseSlow.TrySetResult();
            Assert.Equal(slowBody, await slow.WaitAsync(Timeout));
            await stop.WaitAsync(TimeSpan.FromSeconds(10)); // well before the 30 s shutdown timeout

            await AssertConnectionRefusedAsync(server.LoopbackEndPoint);
            await server.WaitForNoConnectionsAsync();
            Assert.Empty(server.Logs.AtOrAbove(LogLevel.Warning)); // nothing had to be aborted
            Assert.DoesNotContain(server.Logs.Entries, e => e.Message.Contains("failed to close gracefully", StringComparison.Ordinal));
        }

        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task ShutdownWithConnectionsBlockedOnBackpressureAbortsThemAndLeavesNothing()
    {
        const int Clients = 4;
        int fdsBefore = ProcessResources.TransportFdCount();
        int ringFdsBefore = ProcessResources.IoUringFdCount();
        int blockedCount = 0;
        int endedCount = 0;
        var allBlocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var allEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var endings = new ConcurrentQueue<bool>(); // per request: was RequestAborted signalled when the app ended
        var sockets = new List<Socket>();

        try
        {
            await using (var server = await RingServer.StartAsync(async context =>
                {
                    byte[] chunk = new byte[64 * 1024];
                    bool blocked = false;
                    try
                    {
                        // A response without end, to a client that never reads. Once the connection is aborted,
                        // Kestrel turns writes into no-ops and signals RequestAborted.
                        while (!context.RequestAborted.IsCancellationRequested)
                        {
                            Task write = context.Response.Body.WriteAsync(chunk).AsTask();
                            if (!write.IsCompleted && !blocked)
                            {
                                blocked = true; // the output pipe is full: the write waits for the network
                                if (Interlocked.Increment(ref blockedCount) == Clients)
                                {
                                    allBlocked.TrySetResult();
                                }
                            }
                            await write;
                            // Once the connection is aborted Kestrel's writes complete at once and do nothing: let
                            // the thread pool run Kestrel's RequestAborted callback instead of spinning past it.
                            await Task.Yield();
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or IOException)
                    {
                        // The connection went away under the write.
                    }
                    finally
                    {
                        endings.Enqueue(context.RequestAborted.IsCancellationRequested);
                        if (Interlocked.Increment(ref endedCount) == Clients)
                        {
                            allEnded.TrySetResult();
                        }
                    }
                },
                configureServices: services => services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2))))
            {
                byte[] request = Encoding.ASCII.GetBytes("GET /huge HTTP/1.1\r\nHost: localhost\r\n\r\n");
                for (int i = 0; i < Clients; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets.Add(socket);
                    await socket.ConnectAsync(server.LoopbackEndPoint).WaitAsync(Timeout);
                    await socket.SendAsync(request).WaitAsync(Timeout);
                }
                await allBlocked.Task.WaitAsync(Timeout);
                await server.WaitForConnectionsAsync(Clients);

                // Graceful close cannot finish (the responses never end); after the shutdown timeout Kestrel aborts.
                await server.StopAsync().WaitAsync(Timeout);
                await allEnded.Task.WaitAsync(Timeout);
                Assert.Equal(Enumerable.Repeat(true, Clients), endings); // every endless response was ended by the abort
                await server.WaitForNoConnectionsAsync();
            }

            await ProcessResources.WaitForNoRingThreadsAsync();
            Assert.Equal(ringFdsBefore, ProcessResources.IoUringFdCount());
        }
        finally
        {
            foreach (Socket socket in sockets)
            {
                socket.Dispose();
            }
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task FiftyStartsAndStopsLeakNothing()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        int ringFdsBefore = ProcessResources.IoUringFdCount();
        int mappingsBefore = ProcessResources.IoUringMappingCount();
        await ProcessResources.WaitForNoRingThreadsAsync();

        for (int run = 0; run < 50; run++)
        {
            int current = run;
            var server = await RingServer.StartAsync(context => context.Response.WriteAsync($"run {current}"));
            await using (server)
            {
                Assert.Equal(2, ProcessResources.RingThreadCount());
                using (var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout })
                {
                    Assert.Equal($"run {run}", await client.GetStringAsync("/"));
                }
                await server.WaitForNoConnectionsAsync();
            }
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs); // a ring that did not stop says why (event 10)
            await ProcessResources.WaitForNoRingThreadsAsync(); // after every run, not only at the end
        }

        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(ringFdsBefore, ProcessResources.IoUringFdCount());
        Assert.Equal(mappingsBefore, ProcessResources.IoUringMappingCount());
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TwoServersInOneProcessServeSideBySideAndStopInEitherOrder(bool stopFirstStartedFirst)
    {
        await ProcessResources.WaitForNoRingThreadsAsync(); // those of an earlier test may still be exiting
        int fdsBefore = ProcessResources.TransportFdCount();
        int ringFdsBefore = ProcessResources.IoUringFdCount();
        int mappingsBefore = ProcessResources.IoUringMappingCount();

        RingServer? a = null, b = null;
        try
        {
            a = await RingServer.StartAsync(context => context.Response.WriteAsync("A" + context.Request.Path));
            b = await RingServer.StartAsync(context => context.Response.WriteAsync("B" + context.Request.Path));
            Assert.NotEqual(a.Port, b.Port);
            Assert.Equal(4, ProcessResources.RingThreadCount());
            Assert.Equal(4, ProcessResources.IoUringFdCount() - ringFdsBefore);

            using (var clientA = new HttpClient { BaseAddress = a.BaseAddress, Timeout = Timeout })
            using (var clientB = new HttpClient { BaseAddress = b.BaseAddress, Timeout = Timeout })
            {
                var requests = Enumerable.Range(0, 20).Select(async i =>
                {
                    Assert.Equal($"A/{i}", await clientA.GetStringAsync($"/{i}"));
                    Assert.Equal($"B/{i}", await clientB.GetStringAsync($"/{i}"));
                });
                await Task.WhenAll(requests).WaitAsync(Timeout);
            }
            await a.WaitForNoConnectionsAsync();
            await b.WaitForNoConnectionsAsync();

            RingServer first = stopFirstStartedFirst ? a : b;
            RingServer second = stopFirstStartedFirst ? b : a;
            string secondName = stopFirstStartedFirst ? "B" : "A";
            if (stopFirstStartedFirst) { a = null; } else { b = null; }
            await first.DisposeAsync();

            await ProcessResources.WaitForRingThreadCountAsync(2); // the stopped server's rings are gone, the other's run
            await AssertConnectionRefusedAsync(first.LoopbackEndPoint);
            using (var client = new HttpClient { BaseAddress = second.BaseAddress, Timeout = Timeout })
            {
                Assert.Equal($"{secondName}/after", await client.GetStringAsync("/after"));
            }
            await second.WaitForNoConnectionsAsync();
        }
        finally
        {
            if (a is not null)
            {
                await a.DisposeAsync();
            }
            if (b is not null)
            {
                await b.DisposeAsync();
            }
        }

        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(ringFdsBefore, ProcessResources.IoUringFdCount());
        Assert.Equal(mappingsBefore, ProcessResources.IoUringMappingCount());
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    private static async Task AssertConnectionRefusedAsync(IPEndPoint endPoint)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var error = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(endPoint).WaitAsync(Timeout));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    private static byte[] Pattern(int length)
    {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }
        return bytes;
    }
}
