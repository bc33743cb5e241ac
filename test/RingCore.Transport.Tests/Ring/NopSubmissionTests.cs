using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>Submission and reaping mechanics, driven by NOPs (which complete inline during submit).</summary>
public class NopSubmissionTests
{
    [Theory]
    [InlineData(0ul)]
    [InlineData(1ul)]
    [InlineData(0x8000_0000_0000_0000ul)]
    [InlineData(0xDEAD_BEEF_CAFE_F00Dul)]
    [InlineData(0xFFFF_FFFF_FFFF_FFFEul)]
    [InlineData(0xFFFF_FFFF_FFFF_FFFFul)]
    public void Nop_round_trips_user_data_exactly(ulong userData)
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });

        SqePrep.PrepNop(ref ring.GetSqe(), userData);
        IoUringCqe cqe = ring.SubmitAndReapOne();

        Assert.Equal(userData, cqe.UserData);
        Assert.Equal(0, cqe.Res);
        Assert.Equal(0u, cqe.Flags);
        Assert.False(ring.HasCompletions);
    }

    [Fact]
    public void Ten_thousand_nops_through_a_small_ring_each_complete_exactly_once()
    {
        const int total = 10_000;
        const int perBatch = 12; // more than the SQ holds (the rest waits in the backlog), fewer than the CQ holds
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });
        var collector = new CqeCollector();
        var seen = new bool[total];
        int next = 0;

        while (next < total)
        {
            int batch = Math.Min(perBatch, total - next);
            int before = collector.Completions.Count;
            for (int i = 0; i < batch; i++, next++)
            {
                SqePrep.PrepNop(ref ring.GetSqe(), UserDataFor(next));
            }
            while (collector.Completions.Count - before < batch)
            {
                uint missing = (uint)(batch - (collector.Completions.Count - before));
                ring.SubmitAndWait(ring.BacklogCount > 0 ? 0 : missing);
                ring.ReapCompletions(collector);
            }
        }

        Assert.Equal(total, collector.Completions.Count);
        foreach (IoUringCqe cqe in collector.Completions)
        {
            int index = IndexOf(cqe.UserData);
            Assert.InRange(index, 0, total - 1);
            Assert.False(seen[index], $"user_data for #{index} completed twice");
            seen[index] = true;
            Assert.Equal(0, cqe.Res);
        }
        Assert.All(seen, Assert.True);
        Assert.Equal(total, ring.SubmittedCount);
        Assert.Equal(total, ring.CompletedCount);
        Assert.Equal(0, ring.OverflowCount);
        Assert.Equal(0u, ring.PendingSubmissions);
    }

    [Fact]
    public void Getting_more_sqes_than_the_sq_holds_never_enters_the_kernel_and_the_rest_follows_in_order()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 32 });

        for (ulong i = 0; i < 20; i++)
        {
            SqePrep.PrepNop(ref ring.GetSqe(), i);
        }

        // Getting an SQE only gets one: the twelve that did not fit wait in the backlog, nothing was submitted.
        Assert.Equal(0, ring.EnterCount);
        Assert.Equal(0, ring.SubmittedCount);
        Assert.Equal(8u, ring.PendingSubmissions);
        Assert.Equal(12, ring.BacklogCount);

        // Each enter moves what fits: 8, 8, then 4, in the order they were prepared.
        List<IoUringCqe> completions = ring.SubmitAndReap(20);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (ulong)i), completions.Select(c => c.UserData));
        Assert.Equal(3, ring.EnterCount);
        Assert.Equal(0, ring.BacklogCount);
    }

    [Fact]
    public void A_reap_handles_only_what_was_ready_when_it_started_and_at_most_its_limit()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 16, CqEntries = 32 });
        for (ulong i = 0; i < 10; i++)
        {
            SqePrep.PrepNop(ref ring.GetSqe(), i);
        }
        ring.SubmitAndWait(10);
        var collector = new CqeCollector();

        Assert.Equal(4, ring.ReapCompletions(collector, maxCompletions: 4));
        Assert.Equal(6, ring.ReapCompletions(collector));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (ulong)i), collector.Completions.Select(c => c.UserData));
        Assert.False(ring.HasCompletions);
    }

    [Fact]
    public void One_reap_collects_the_whole_batch_after_submit_and_wait()
    {
        const uint batch = 32;
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 64 });
        var collector = new CqeCollector();

        for (ulong i = 0; i < batch; i++)
        {
            SqePrep.PrepNop(ref ring.GetSqe(), 1000 + i);
        }
        long entersBefore = ring.EnterCount;
        int submitted = ring.SubmitAndWait(batch);

        Assert.Equal((int)batch, submitted);
        Assert.Equal(entersBefore + 1, ring.EnterCount); // one io_uring_enter submitted and waited
        Assert.True(ring.HasCompletions);
        Assert.Equal((int)batch, ring.ReapCompletions(collector));
        Assert.Equal(Enumerable.Range(1000, (int)batch).Select(i => (ulong)i), collector.Completions.Select(c => c.UserData).Order());
        Assert.False(ring.HasCompletions);
        Assert.Equal(0, ring.ReapCompletions(collector));
    }

    [Fact]
    public void Handler_may_prepare_while_being_reaped_and_its_completion_comes_only_after_the_next_enter()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });
        var handler = new ResubmittingHandler(ring, generations: 100);

        SqePrep.PrepNop(ref ring.GetSqe(), 1);
        while (handler.Seen < 100)
        {
            int seenBefore = handler.Seen;
            ring.SubmitAndWait(1);
            Assert.Equal(1, ring.ReapCompletions(handler)); // the NOP it prepared was not submitted: no self-feeding
            Assert.Equal(seenBefore + 1, handler.Seen);
        }

        Assert.Equal(100, handler.Seen);
        Assert.Equal(0u, ring.PendingSubmissions);
        Assert.False(ring.HasCompletions);
    }

    /// <summary>Each completion of NOP n prepares NOP n+1, until the last generation.</summary>
    private sealed class ResubmittingHandler(IoUring ring, int generations) : ICqeHandler
    {
        public int Seen { get; private set; }

        public void OnCompletion(in IoUringCqe cqe)
        {
            Seen++;
            Assert.Equal((ulong)Seen, cqe.UserData);
            if (Seen < generations)
            {
                SqePrep.PrepNop(ref ring.GetSqe(), cqe.UserData + 1);
            }
        }
    }

    // High word is the complement of the low word, so a truncated or mixed-up value is recognised.
    private static ulong UserDataFor(int index) => ((ulong)~(uint)index << 32) | (uint)index;

    private static int IndexOf(ulong userData) => (uint)(userData >> 32) == ~(uint)userData ? (int)(uint)userData : -1;
}
