using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// io_uring_enter with a timeout (IORING_ENTER_EXT_ARG), which the ring loop uses to gather batches of
/// completions, and the rule that decides how many to wait for.
/// </summary>
public class BoundedWaitTests
{
    private const long ManyConnections = 10_000; // enough that the connection limit never binds
    [Fact]
    public void A_bounded_wait_for_more_completions_than_will_come_returns_with_the_ones_that_came()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        Assert.True(ring.SupportsWaitTimeout);
        var collector = new CqeCollector();
        for (ulong i = 1; i <= 3; i++)
        {
            SqePrep.PrepNop(ref ring.GetSqe(), i);
        }

        // Three NOPs complete; the wait asks for eight and must end on its timeout, not hang.
        int submitted = ring.SubmitAndWait(8, timeoutNanoseconds: 2_000_000);
        int reaped = ring.ReapCompletions(collector);

        Assert.Equal(3, submitted);
        Assert.Equal(3, reaped);
        Assert.Equal([1ul, 2ul, 3ul], collector.Completions.Select(c => c.UserData).Order());
    }

    [Fact]
    public void A_bounded_wait_with_nothing_in_flight_times_out_cleanly()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });

        // Nothing submitted: the kernel answers ETIME, which is not an error for the caller.
        Assert.Equal(0, ring.SubmitAndWait(1, timeoutNanoseconds: 1_000_000));
        Assert.False(ring.HasCompletions);
    }

    [Fact]
    public void A_bounded_wait_returns_as_soon_as_enough_completions_are_ready()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        var collector = new CqeCollector();
        SqePrep.PrepNop(ref ring.GetSqe(), 7);
        SqePrep.PrepNop(ref ring.GetSqe(), 8);

        // A one-hour timeout: the test would hang if the wait ignored its count.
        ring.SubmitAndWait(2, timeoutNanoseconds: 3_600_000_000_000);

        Assert.Equal(2, ring.ReapCompletions(collector));
    }

    [Fact]
    public void The_batcher_waits_for_one_completion_under_light_load()
    {
        var batcher = new CompletionBatcher(waitNanoseconds: 500_000);
        Assert.False(batcher.IsBatching);
        Assert.Equal(0u, batcher.BatchTarget(toSubmit: 5, ManyConnections));

        // Each enter finds its own submissions' CQEs plus fewer than MinArrivals others: still no batching.
        batcher.OnWaited(waitedFor: 1, submitted: 5, reaped: 5 + (int)CompletionBatcher.MinArrivals - 1, batched: false);
        Assert.False(batcher.IsBatching);
    }

    [Fact]
    public void The_batcher_waits_for_as_many_arrivals_as_the_last_enter_found_plus_its_own_submissions()
    {
        var batcher = new CompletionBatcher(waitNanoseconds: 500_000);

        batcher.OnWaited(waitedFor: 1, submitted: 3, reaped: 3 + 20, batched: false);

        Assert.True(batcher.IsBatching);
        Assert.Equal(4u + 20u, batcher.BatchTarget(toSubmit: 4, ManyConnections));
    }

    [Fact]
    public void A_batch_never_waits_for_more_arrivals_than_the_ring_has_open_connections()
    {
        var batcher = new CompletionBatcher(waitNanoseconds: 500_000);
        batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 40, batched: false);

        // The last enter found 40 arrivals; 25 open connections allow 25 of them, 1,000 all 40.
        Assert.Equal(2u + 25u, batcher.BatchTarget(toSubmit: 2, openConnections: 25));
        Assert.Equal(2u + 40u, batcher.BatchTarget(toSubmit: 2, openConnections: 1_000));

        // Fewer than MinArrivals (4) connections: no batch at all, however many arrived at once.
        Assert.Equal(2u + CompletionBatcher.MinArrivals, batcher.BatchTarget(toSubmit: 2, openConnections: 4));
        Assert.Equal(0u, batcher.BatchTarget(toSubmit: 2, openConnections: 3));
    }

    [Fact]
    public void A_timed_out_batch_lowers_the_target_to_what_arrived_and_pauses_batching_when_that_is_little()
    {
        var batcher = new CompletionBatcher(waitNanoseconds: 500_000);
        batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 20, batched: false);

        // Timed out with 10 of 20: the rate is still high, keep batching with the measured 10.
        batcher.OnWaited(waitedFor: 20, submitted: 0, reaped: 10, batched: true);
        Assert.Equal(10u, batcher.BatchTarget(toSubmit: 0, ManyConnections));

        // Timed out with 1 of 10: load is light, so batching pauses (one turn after the first miss)...
        batcher.OnWaited(waitedFor: 10, submitted: 0, reaped: 1, batched: true);
        Assert.False(batcher.IsBatching);

        // ...and comes back once enters find a batch again.
        batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 12, batched: false);
        Assert.True(batcher.IsBatching);
        Assert.Equal(12u, batcher.BatchTarget(toSubmit: 0, ManyConnections));
    }

    [Fact]
    public void Misses_in_a_row_pause_batching_for_longer_each_time()
    {
        var batcher = new CompletionBatcher(waitNanoseconds: 500_000);
        int previousPause = 0;
        for (int miss = 0; miss < 5; miss++)
        {
            // Load looks heavy for one enter, then the batched wait times out with almost nothing.
            batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 16, batched: false);
            while (!batcher.IsBatching)
            {
                batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 16, batched: false);
            }
            batcher.OnWaited(waitedFor: 16, submitted: 0, reaped: 1, batched: true);

            int pause = 0;
            while (true)
            {
                batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 16, batched: false);
                pause++;
                if (batcher.IsBatching)
                {
                    break;
                }
            }
            Assert.True(pause > previousPause, $"miss {miss}: paused {pause} turns, the one before {previousPause}");
            previousPause = pause;
        }
    }

    [Fact]
    public void With_no_batch_wait_configured_the_batcher_never_batches()
    {
        var batcher = new CompletionBatcher(waitNanoseconds: 0);
        batcher.OnWaited(waitedFor: 1, submitted: 0, reaped: 500, batched: false);
        Assert.False(batcher.IsBatching);
        Assert.Equal(0u, batcher.BatchTarget(toSubmit: 3, ManyConnections));
    }
}
