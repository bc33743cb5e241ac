using Microsoft.Extensions.Logging.Abstractions;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// The ring thread's loop: work posted from other threads runs on the ring thread (waking it from its
/// io_uring_enter sleep through the eventfd), and StopAsync tears the ring down.
/// The WaitAsync bounds only turn a lost wake-up into a failure instead of a hung test run.
/// </summary>
public class RingThreadTests
{
    internal static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    internal static RingThread StartRingThread() => RingThread.Start(
        new RingThreadSettings
        {
            Index = 0,
            Ring = new RingSetupOptions { SqEntries = 16 },
            BufferRingEntries = 8,
            BufferSize = 1024,
        },
        NullLogger.Instance);

    [Fact]
    public async Task Posted_work_runs_on_the_ring_thread()
    {
        RingThread ringThread = StartRingThread();
        try
        {
            var ran = new TaskCompletionSource<(bool OnRingThread, bool RingReady)>(TaskCreationOptions.RunContinuationsAsynchronously);
            ringThread.Post(_ => ran.SetResult((ringThread.IsCurrentThread, ringThread.Ring.HasSingleIssuer)), null);

            var (onRingThread, ringReady) = await ran.Task.WaitAsync(HangGuard);

            Assert.True(onRingThread);
            Assert.True(ringReady);
            Assert.False(ringThread.IsCurrentThread);
        }
        finally
        {
            await ringThread.StopAsync().WaitAsync(HangGuard);
        }
    }

    [Fact]
    public async Task Each_post_wakes_the_sleeping_loop()
    {
        RingThread ringThread = StartRingThread();
        try
        {
            // One item at a time: between items the loop goes back to sleep in io_uring_enter, so every
            // round trip needs a wake-up through the eventfd.
            for (int i = 0; i < 200; i++)
            {
                var ran = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
                ringThread.Post(state => ran.SetResult((int)state!), i);
                Assert.Equal(i, await ran.Task.WaitAsync(HangGuard));
            }
        }
        finally
        {
            await ringThread.StopAsync().WaitAsync(HangGuard);
        }
    }

    [Fact]
    public async Task Many_items_posted_from_several_threads_all_run_on_the_ring_thread()
    {
        const int posters = 4;
        const int perPoster = 5_000;
        RingThread ringThread = StartRingThread();
        try
        {
            int ran = 0;
            int offThread = 0;
            var allRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var seen = new bool[posters * perPoster]; // only written on the ring thread
            Action<object?> item = state =>
            {
                if (!ringThread.IsCurrentThread)
                {
                    Interlocked.Increment(ref offThread);
                }
                seen[(int)state!] = true;
                if (Interlocked.Increment(ref ran) == posters * perPoster)
                {
                    allRan.SetResult();
                }
            };

            using var start = new Barrier(posters);
            var threads = Enumerable.Range(0, posters).Select(p => new Thread(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < perPoster; i++)
                {
                    ringThread.Post(item, p * perPoster + i);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            await allRan.Task.WaitAsync(HangGuard);

            Assert.Equal(posters * perPoster, Volatile.Read(ref ran));
            Assert.Equal(0, offThread);
            Assert.All(seen, Assert.True);
        }
        finally
        {
            await ringThread.StopAsync().WaitAsync(HangGuard);
        }
    }

    [Fact]
    public async Task Work_posted_from_the_ring_thread_itself_runs_later_not_inline()
    {
        RingThread ringThread = StartRingThread();
        try
        {
            var order = new List<string>();
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            ringThread.Post(_ =>
            {
                ringThread.Post(_ =>
                {
                    order.Add("inner");
                    done.SetResult();
                }, null);
                order.Add("outer");
            }, null);

            await done.Task.WaitAsync(HangGuard);

            Assert.Equal(["outer", "inner"], order);
        }
        finally
        {
            await ringThread.StopAsync().WaitAsync(HangGuard);
        }
    }

    [Fact]
    public async Task StopAsync_completes_and_Stopped_reports_it()
    {
        RingThread ringThread = StartRingThread();

        Task stop = ringThread.StopAsync();
        await stop.WaitAsync(HangGuard);

        Assert.True(ringThread.Stopped.IsCompletedSuccessfully);
        Assert.Same(ringThread.Stopped, ringThread.StopAsync()); // a second stop is harmless
    }
}

/// <summary>The ring thread's own fd and mappings are gone once it has stopped (counted, so not in parallel).</summary>
[Collection(ProcessResourceCollection.Name)]
public class RingThreadTeardownTests
{
    [Fact]
    public async Task Stopped_ring_thread_leaves_no_io_uring_fd_or_mapping_behind()
    {
        int fdsBefore = ProcSelf.CountIoUringFds();
        int mapsBefore = ProcSelf.CountIoUringMappings();

        RingThread ringThread = RingThreadTests.StartRingThread();
        var ringFd = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        ringThread.Post(_ => ringFd.SetResult(ringThread.Ring.RingFd), null);
        int fd = await ringFd.Task.WaitAsync(RingThreadTests.HangGuard);
        Assert.True(ProcSelf.IsIoUringFd(fd));
        Assert.Equal(fdsBefore + 1, ProcSelf.CountIoUringFds());

        await ringThread.StopAsync().WaitAsync(RingThreadTests.HangGuard);

        Assert.False(ProcSelf.IsIoUringFd(fd));
        Assert.Equal(fdsBefore, ProcSelf.CountIoUringFds());
        Assert.Equal(mapsBefore, ProcSelf.CountIoUringMappings());
    }
}
