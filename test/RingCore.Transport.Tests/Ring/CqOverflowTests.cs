using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// More completions than the CQ holds: with IORING_FEAT_NODROP the kernel parks the surplus in its overflow
/// list and flags IORING_SQ_CQ_OVERFLOW; the ring must notice, flush with GETEVENTS and lose nothing.
/// </summary>
public class CqOverflowTests
{
    [Fact]
    public void Overflowing_the_completion_queue_loses_no_completion()
    {
        const int total = 64;
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });
        Assert.NotEqual(0u, ring.Features & IoUringFeatures.NoDrop);

        // Eight Submit() calls of eight NOPs each, nothing reaped: 16 fit in the CQ, 48 overflow.
        for (int batch = 0; batch < total / 8; batch++)
        {
            for (int i = 0; i < 8; i++)
            {
                SqePrep.PrepNop(ref ring.GetSqe(), (ulong)(batch * 8 + i) + 1);
            }
            ring.Submit();
        }
        Assert.Equal(total, ring.SubmittedCount);

        var collector = new CqeCollector();
        while (collector.Completions.Count < total)
        {
            ring.SubmitAndWait(1);
            ring.ReapCompletions(collector);
        }

        Assert.Equal(
            Enumerable.Range(1, total).Select(i => (ulong)i),
            collector.Completions.Select(c => c.UserData).Order());
        Assert.All(collector.Completions, c => Assert.Equal(0, c.Res));
        // The kernel raised IORING_SQ_CQ_OVERFLOW while completions sat in its overflow list, and the ring saw it.
        Assert.True(ring.OverflowCount > 0, "the ring never observed IORING_SQ_CQ_OVERFLOW");
        Assert.False(ring.HasCompletions);
    }

    [Fact]
    public void Ring_keeps_working_after_an_overflow_has_drained()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });
        for (ulong i = 0; i < 40; i++)
        {
            SqePrep.PrepNop(ref ring.GetSqe(), i);
        }
        Assert.Equal(40, ring.SubmitAndReap(40).Count);

        SqePrep.PrepNop(ref ring.GetSqe(), 12345);
        Assert.Equal(12345ul, ring.SubmitAndReapOne().UserData);
    }
}
