using System.Text;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// Buffer-select receives from a provided-buffer ring over a Unix stream socketpair: the CQE names the buffer,
/// recycled buffers come back, multishot keeps going with F_MORE, and an empty ring yields ENOBUFS.
/// </summary>
public class ProvidedBufferRingTests
{
    private const ushort Group = 3;

    [Fact]
    public void Single_shot_recv_fills_a_provided_buffer_and_recycled_buffers_come_back()
    {
        const int entries = 4;
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var buffers = ProvidedBufferRing.Register(ring, Group, entries, bufferSize: 128);
        using var sockets = FdPair.UnixStreamSocketPair();
        var bufferIdsSeen = new HashSet<ushort>();

        for (int round = 0; round < entries * 3; round++) // three times round the ring: only works if buffers return
        {
            byte[] sent = Encoding.ASCII.GetBytes($"round {round}: {new string('x', round)}");
            FdPair.WriteAll(sockets.Second, sent);

            SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: false, (ulong)round);
            IoUringCqe cqe = ring.SubmitAndReapOne();

            Assert.Equal((ulong)round, cqe.UserData);
            Assert.Equal(sent.Length, cqe.Res);
            Assert.NotEqual(0u, cqe.Flags & IoUringCqeFlags.Buffer);
            Assert.Equal(0u, cqe.Flags & IoUringCqeFlags.More);
            ushort bid = ProvidedBufferRing.BufferIdOf(cqe.Flags);
            Assert.InRange(bid, 0, entries - 1);
            bufferIdsSeen.Add(bid);
            buffers.OnTaken();
            Assert.Equal(sent, buffers.GetBuffer(bid, cqe.Res).ToArray());

            buffers.Recycle(bid);
            buffers.Publish();
            Assert.Equal(0, buffers.Outstanding);
        }

        Assert.Equal(entries, bufferIdsSeen.Count); // the kernel walked the whole ring
    }

    [Fact]
    public void Multishot_recv_posts_one_cqe_per_arrival_with_more_and_ends_at_eof()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var buffers = ProvidedBufferRing.Register(ring, Group, entries: 2, bufferSize: 256);
        using var sockets = FdPair.UnixStreamSocketPair();
        const ulong userData = 0xABCD;

        SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: true, userData);
        ring.Submit();
        Assert.False(ring.HasCompletions);

        for (int i = 0; i < 6; i++) // more arrivals than buffers: each is recycled before the next
        {
            byte[] sent = Encoding.ASCII.GetBytes($"message {i}");
            FdPair.WriteAll(sockets.Second, sent);

            IoUringCqe cqe = ring.SubmitAndReapOne();

            Assert.Equal(userData, cqe.UserData);
            Assert.Equal(sent.Length, cqe.Res);
            Assert.NotEqual(0u, cqe.Flags & IoUringCqeFlags.Buffer);
            Assert.NotEqual(0u, cqe.Flags & IoUringCqeFlags.More); // still armed
            ushort bid = ProvidedBufferRing.BufferIdOf(cqe.Flags);
            buffers.OnTaken();
            Assert.Equal(sent, buffers.GetBuffer(bid, cqe.Res).ToArray());
            buffers.Recycle(bid);
            buffers.Publish();
        }

        sockets.CloseSecond(); // EOF: the final completion, without F_MORE
        IoUringCqe last = ring.SubmitAndReapOne();

        Assert.Equal(userData, last.UserData);
        Assert.Equal(0, last.Res);
        Assert.Equal(0u, last.Flags & IoUringCqeFlags.More);
        Assert.Equal(0u, last.Flags & IoUringCqeFlags.Buffer);
    }

    [Fact]
    public void Recv_fails_with_ENOBUFS_when_every_buffer_is_taken()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var buffers = ProvidedBufferRing.Register(ring, Group, entries: 2, bufferSize: 64);
        using var sockets = FdPair.UnixStreamSocketPair();
        var taken = new List<ushort>();

        for (int i = 0; i < 2; i++) // take both buffers and keep them
        {
            FdPair.WriteAll(sockets.Second, "data"u8);
            SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: false, (ulong)i);
            IoUringCqe cqe = ring.SubmitAndReapOne();
            Assert.Equal(4, cqe.Res);
            taken.Add(ProvidedBufferRing.BufferIdOf(cqe.Flags));
            buffers.OnTaken();
        }
        Assert.Equal(2, buffers.Outstanding);

        FdPair.WriteAll(sockets.Second, "more"u8);
        SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: false, 99);
        IoUringCqe starved = ring.SubmitAndReapOne();

        Assert.Equal(99ul, starved.UserData);
        Assert.Equal(-Errno.ENOBUFS, starved.Res);
        Assert.Equal(0u, starved.Flags & IoUringCqeFlags.Buffer);

        // ENOBUFS is not an error: once a buffer is back, the bytes that waited are received.
        buffers.Recycle(taken[0]);
        buffers.Publish();
        SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: false, 100);
        IoUringCqe retried = ring.SubmitAndReapOne();

        Assert.Equal(4, retried.Res);
        Assert.Equal(taken[0], ProvidedBufferRing.BufferIdOf(retried.Flags));
        Assert.Equal("more"u8.ToArray(), buffers.GetBuffer(taken[0], retried.Res).ToArray());
    }

    [Fact]
    public void Multishot_recv_ends_with_ENOBUFS_without_more_and_can_be_rearmed()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var buffers = ProvidedBufferRing.Register(ring, Group, entries: 2, bufferSize: 64);
        using var sockets = FdPair.UnixStreamSocketPair();
        var taken = new List<ushort>();

        SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: true, 1);
        ring.Submit();
        for (int i = 0; i < 2; i++)
        {
            FdPair.WriteAll(sockets.Second, "abc"u8);
            IoUringCqe cqe = ring.SubmitAndReapOne();
            Assert.Equal(3, cqe.Res);
            Assert.NotEqual(0u, cqe.Flags & IoUringCqeFlags.More);
            taken.Add(ProvidedBufferRing.BufferIdOf(cqe.Flags));
            buffers.OnTaken();
        }

        FdPair.WriteAll(sockets.Second, "xyz"u8);
        IoUringCqe starved = ring.SubmitAndReapOne();

        Assert.Equal(1ul, starved.UserData);
        Assert.Equal(-Errno.ENOBUFS, starved.Res);
        Assert.Equal(0u, starved.Flags & IoUringCqeFlags.More); // the multishot is over

        foreach (ushort bid in taken)
        {
            buffers.Recycle(bid);
        }
        buffers.Publish();
        SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, Group, multishot: true, 2);
        IoUringCqe rearmed = ring.SubmitAndReapOne();

        Assert.Equal(2ul, rearmed.UserData);
        Assert.Equal(3, rearmed.Res);
        Assert.NotEqual(0u, rearmed.Flags & IoUringCqeFlags.More);
        Assert.Equal("xyz"u8.ToArray(), buffers.GetBuffer(ProvidedBufferRing.BufferIdOf(rearmed.Flags), 3).ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(65536)]
    public void Register_rejects_entry_counts_that_are_not_a_power_of_two_up_to_32768(int entries)
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        Assert.Throws<ArgumentOutOfRangeException>(() => ProvidedBufferRing.Register(ring, Group, entries, 4096));
    }

    [Fact]
    public void A_group_id_can_be_registered_again_after_dispose()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        ProvidedBufferRing.Register(ring, Group, 4, 128).Dispose();
        using var again = ProvidedBufferRing.Register(ring, Group, 4, 128);
        Assert.Equal(Group, again.GroupId);
    }
}
