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
        const int perBatch = 12; // more than the SQ holds (GetSqe must submit), fewer than the CQ holds (no overflow)
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
                ring.SubmitAndWait((uint)(batch - (collector.Completions.Count - before)));
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
    public void Getting_more_sqes_than_the_sq_holds_submits_the_full_queue()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });

        for (ulong i = 0; i < 8; i++)
        {
            SqePrep.PrepNop(ref ring.GetSqe(), i);
        }
        Assert.Equal(8u, ring.PendingSubmissions);
        Assert.Equal(0, ring.SubmittedCount);

        SqePrep.PrepNop(ref ring.GetSqe(), 8); // the ninth: the first eight go to the kernel first

        Assert.Equal(8, ring.SubmittedCount);
        Assert.Equal(1u, ring.PendingSubmissions);
        Assert.Equal(9, ring.SubmitAndReap(9).Count);
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
    public void Handler_may_submit_while_being_reaped()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });
        var handler = new ResubmittingHandler(ring, generations: 100);

        SqePrep.PrepNop(ref ring.GetSqe(), 1);
        while (handler.Seen < 100)
        {
            ring.SubmitAndWait(1);
            ring.ReapCompletions(handler);
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
