using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Listening;

/// <summary>
/// Stopping a listener races the kernel: Unbind shuts the listening socket down on Kestrel's thread (so no new
/// connection reaches the ring) and posts the acceptor's stop to the ring, while the shutdown also ends the
/// multishot accept with an error CQE. Whichever the ring sees first, the acceptor must finish stopping, or its
/// ring waits for it forever and the host's stop hangs until the shutdown timeout.
/// </summary>
[Collection(ServerCollection.Name)] // counts ring threads
public sealed class AcceptorStopTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // Without DEFER_TASKRUN the kernel completes the accept in task work at the ring thread's next return from any
    // system call (here: the wait that holds it), so its error CQE is in the CQ before the posted stop runs; with it,
    // the order depends on the turn the ring is in. Both setups are run.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StopPostedBeforeTheAcceptsErrorCompletionStillFinishes(bool singleIssuer)
    {
        var server = await RingServer.StartAsync(context => context.Response.WriteAsync("ok"), configureTransport: o =>
        {
            o.RingThreadCount = 1;
            o.UseSingleIssuer = singleIssuer;
        });
        var ring = server.Factory.Group.Threads[0];
        using var holding = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();

        // Hold the ring thread in posted work, so that the acceptor's stop is queued behind it and runs in the same
        // turn, before the ring next enters the kernel and sees the accept end.
        ring.Post(_ => { holding.Release(); release.Wait(Timeout); }, null);
        Assert.True(await holding.WaitAsync(Timeout));
        var stopwatch = Stopwatch.StartNew();
        Task stopping = server.StopAsync();

        // Unbind shuts the listening socket down before it posts the stop: wait until connecting is refused.
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(server.LoopbackEndPoint);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, "the listening socket was never shut down");
            await Task.Delay(5);
        }
        release.Set();

        await stopping.WaitAsync(Timeout);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"stop took {stopwatch.Elapsed.TotalSeconds:F1} s");
        await server.DisposeAsync(); // fails if a ring did not stop in time (event 10)
        await ProcessResources.WaitForNoRingThreadsAsync();
    }
}
