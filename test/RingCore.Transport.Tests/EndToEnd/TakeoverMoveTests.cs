using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Threading;
using RingCore.Transport.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// A takeover on the default rings (SINGLE_ISSUER | DEFER_TASKRUN) moves the ring's connections and listener to the
/// new loop thread's own io_uring (RingThread.OwnerMove.cs). What was in flight on the held thread's io_uring must
/// neither run there nor be lost: requests that arrive while the thread is held, before and after the move, are all
/// answered by the new thread; new connections are accepted although the held io_uring's accept is still armed on
/// the listening socket; and when the handler returns, its thread cancels what it left behind (nothing runs instead),
/// and its emptied io_uring serves the next takeover.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class TakeoverMoveTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Ok = "ok"u8.ToArray();
    private const int RacingRounds = 30;

    /// <summary>
    /// The monitor decides to hand the loop over while one item of application work (A) holds the loop thread, but
    /// its compare-and-swap comes later (here held back by a hook; in production, starting a thread and its io_uring
    /// takes as long): meanwhile A returns, the loop thread enters its ring and starts item B. The swap must fail,
    /// because B's start and the ring's state when B started were never checked: with a CQ overflow left from that
    /// enter, moving the owners would lose completions (found as 2-14 dropped receives and a stalled transfer in
    /// IntegrityTests with 8-entry queues). B is handed over only by a later check of its own.
    /// </summary>
    [Fact]
    public async Task AHandOverDecidedForOneItemOfApplicationWorkNeverTakesTheNextOne()
    {
        for (int attempt = 1; !await HandOverDecidedForAWhileBStartsAsync(); attempt++)
        {
            Assert.True(attempt < 5, "five attempts in a row had /a or /b run on the thread pool, not on the loop thread");
        }
    }

    /// <summary>
    /// One attempt of the test above; false when Kestrel ran /a or /b on the thread-pool thread that served the
    /// request before (RawClient.ConnectWithSecondRequestOnLoopThreadAsync), so that one of them did not hold the loop thread.
    /// </summary>
    private async Task<bool> HandOverDecidedForAWhileBStartsAsync()
    {
        using var releaseB = new ManualResetEventSlim();
        bool aOnLoopThread = false;
        var bStarted = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously); // true on the loop thread
        var takeoversAtSecondDecision = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        RingServer? server = null;
        int decisions = 0;
        var hooks = new RingTestHooks
        {
            BeforeHandOver = _ =>
            {
                int decision = Interlocked.Increment(ref decisions);
                if (decision == 1)
                {
                    bStarted.Task.Wait(Timeout); // A returns and B starts before this decision's swap
                }
                else if (decision == 2)
                {
                    takeoversAtSecondDecision.TrySetResult(server!.Takeovers);
                }
            },
        };
        int fdsBefore = ProcessResources.TransportFdCount();
        server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/a")
            {
                Volatile.Write(ref aOnLoopThread, HandlerGate.OnRingThread);
                Thread.Sleep(200); // holds the loop thread well past RingTakeoverMonitor.HeldMilliseconds
            }
            else if (context.Request.Path == "/b")
            {
                bStarted.TrySetResult(HandlerGate.OnRingThread);
                releaseB.Wait(Timeout);
            }
            context.Response.ContentLength = Ok.Length;
            return context.Response.Body.WriteAsync(Ok).AsTask();
        }, configureTransport: options =>
        {
            options.RingThreadCount = 1;
            options.TestHooks = hooks;
        });
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var a = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
            using var b = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
            foreach (RawClient client in new[] { a, b })
            {
                await client.SendAsync(RawClient.Get("/first"), cts.Token); // the first request runs on the thread pool
                Assert.Equal(Ok, (await client.ReadResponseAsync(cts.Token)).Body);
            }

            await a.SendAsync(RawClient.Get("/a"), cts.Token); // second on its connection: runs on the loop thread
            Assert.Equal(Ok, (await a.ReadResponseAsync(cts.Token)).Body); // A is done; the first decision still waits
            if (!Volatile.Read(ref aOnLoopThread))
            {
                output.WriteLine("/a ran on the thread pool: attempt again");
                return false;
            }
            await b.SendAsync(RawClient.Get("/b"), cts.Token);
            if (!await bStarted.Task.WaitAsync(Timeout))
            {
                output.WriteLine("/b ran on the thread pool: attempt again");
                return false;
            }

            long takeovers = await takeoversAtSecondDecision.Task.WaitAsync(Timeout).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : -1);
            Assert.True(takeovers == 0, takeovers < 0
                ? $"the monitor never decided again about B: the decision made for A handed B over ({server.Takeovers} takeover(s))"
                : $"{takeovers} takeover(s) before the monitor decided about B: the decision made for A handed over another item");
            await Polling.UntilAsync(() => server.Takeovers == 1, Timeout, () => $"B was not handed over ({server.Takeovers} takeovers)");
            releaseB.Set();
            Assert.Equal(Ok, (await b.ReadResponseAsync(cts.Token)).Body);
            await a.SendAsync(RawClient.Get("/after"), cts.Token);
            Assert.Equal(Ok, (await a.ReadResponseAsync(cts.Token)).Body);
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        finally
        {
            releaseB.Set();
            bStarted.TrySetResult(false);
            await server.DisposeAsync();
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
        return true;
    }

    [Fact]
    public async Task RequestsAndConnectionsArrivingWhileALoopThreadIsHeldAreServedAndNothingRunsOnItsRing()
    {
        const int Connections = 200;
        using var release = new HandlerGate();
        int fdsBefore = ProcessResources.TransportFdCount();
        var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/block")
            {
                release.Hold(Timeout); // a synchronous call that takes its time
            }
            context.Response.ContentLength = Ok.Length;
            return context.Response.Body.WriteAsync(Ok).AsTask();
        }, configureTransport: options => options.RingThreadCount = 1); // one ring: every connection is on the held one
        try
        {
            Assert.True(server.Factory.Group.Threads[0].Ring.HasSingleIssuer, "this test needs SINGLE_ISSUER rings (Linux 6.0)");
            using var cts = new CancellationTokenSource(Timeout);
            using var others = await Burst.ConnectAsync(server.LoopbackEndPoint, Connections);
            await others.SendAllAsync(RawClient.Get("/first")); // their receives are now armed on the first loop thread's ring
            await others.ExpectAllAsync(1, Ok);

            // Blocks the loop thread with the second request of a new keep-alive connection (retried when Kestrel
            // runs it on the thread pool instead: RawClient.ConnectWithSecondRequestOnLoopThreadAsync).
            Task<RawClient> BlockTheLoopThreadAsync() =>
                RawClient.ConnectWithSecondRequestOnLoopThreadAsync(server.LoopbackEndPoint, "/block", release, Ok, Timeout, cts.Token);

            using var blocking = await BlockTheLoopThreadAsync();

            // At once, most likely before the takeover: the data lands on sockets whose receives the held ring holds.
            var held = Stopwatch.StartNew();
            await others.SendAllAsync(RawClient.Get("/while-held"));
            await others.ExpectAllAsync(1, Ok);
            output.WriteLine($"{Connections} requests sent as the handler blocked answered in {held.ElapsedMilliseconds} ms; takeovers {server.Takeovers}");
            Assert.True(server.Takeovers >= 1, "the held loop never moved");

            // After the move: more requests, and new connections to the listener whose accept the held ring still holds.
            await others.SendAllAsync(RawClient.Get("/after-move"));
            await others.ExpectAllAsync(1, Ok);
            using (var newcomers = await Burst.ConnectAsync(server.LoopbackEndPoint, 50))
            {
                await newcomers.SendAllAsync(RawClient.Get("/new"));
                await newcomers.ExpectAllAsync(1, Ok);
            }

            // The handler returns: its thread cancels what it left behind, and nothing of it ran instead.
            release.Open();
            Assert.Equal(Ok, (await blocking.ReadResponseAsync(cts.Token)).Body);
            await others.SendAllAsync(RawClient.Get("/after-release"));
            await others.ExpectAllAsync(1, Ok);

            // Its emptied ring serves the next takeover.
            long takeovers = server.Takeovers;
            using var blockingAgain = await BlockTheLoopThreadAsync();
            await Polling.UntilAsync(() => server.Takeovers > takeovers, Timeout, () => "no second takeover");
            await others.SendAllAsync(RawClient.Get("/second-hold"));
            await others.ExpectAllAsync(1, Ok);
            release.Open();
            Assert.Equal(Ok, (await blockingAgain.ReadResponseAsync(cts.Token)).Body);
            using (var newcomers = await Burst.ConnectAsync(server.LoopbackEndPoint, 50))
            {
                await newcomers.SendAllAsync(RawClient.Get("/new-again"));
                await newcomers.ExpectAllAsync(1, Ok);
            }

            // The race that matters: requests arriving just as the held thread returns, still in their sockets when
            // its completion work for them would run. Its cancels must all be in before that work runs.
            // (A fresh connection each round: on the old connection the next request could run on the thread that
            // just lost the loop, still busy finishing the last request.)
            for (int round = 0; round < RacingRounds; round++)
            {
                takeovers = server.Takeovers;
                using var racer = await BlockTheLoopThreadAsync();
                await Polling.UntilAsync(() => server.Takeovers > takeovers, Timeout, () => $"no takeover in round {round} (refused: {server.Rings.Sum(r => Interlocked.Read(ref r.Counters.TakeoversRefused))}, loop in application code: {server.Rings[0].InApplicationCode})");
                Task sending = others.SendAllAsync(RawClient.Get("/racing"));
                release.Open();
                await sending;
                await others.ExpectAllAsync(1, Ok);
                Assert.Equal(Ok, (await racer.ReadResponseAsync(cts.Token)).Body);
            }

            long dropped = server.Rings.Sum(ring => Interlocked.Read(ref ring.Counters.ResultsDroppedAfterMove));
            output.WriteLine($"takeovers {server.Takeovers}, owners moved {server.MovedRequests}, results dropped {dropped}");
            Assert.Equal(0, dropped);
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        finally
        {
            release.Open();
            await server.DisposeAsync();
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }
}
