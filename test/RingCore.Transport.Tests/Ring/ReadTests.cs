using System.Text;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>IORING_OP_READ from a pipe and from an eventfd (the latter is how ring threads get woken).</summary>
public unsafe class ReadTests
{
    [Fact]
    public void Read_from_a_pipe_returns_exactly_the_bytes_written()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var pipe = FdPair.Pipe();
        byte[] sent = Encoding.ASCII.GetBytes("hello through the ring");
        FdPair.WriteAll(pipe.Second, sent);

        byte[] received = new byte[256];
        fixed (byte* buffer = received)
        {
            SqePrep.PrepRead(ref ring.GetSqe(), pipe.First, buffer, (uint)received.Length, 0, 0x5EAD);
            IoUringCqe cqe = ring.SubmitAndReapOne();

            Assert.Equal(0x5EADul, cqe.UserData);
            Assert.Equal(sent.Length, cqe.Res);
        }
        Assert.Equal(sent, received.AsSpan(0, sent.Length).ToArray());
        Assert.All(received.Skip(sent.Length), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Read_from_a_pipe_completes_when_bytes_arrive_after_submission()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var pipe = FdPair.Pipe();
        byte[] received = new byte[64];
        fixed (byte* buffer = received)
        {
            SqePrep.PrepRead(ref ring.GetSqe(), pipe.First, buffer, (uint)received.Length, 0, 1);
            ring.Submit();
            Assert.False(ring.HasCompletions); // nothing to read yet: the read is parked in the kernel

            FdPair.WriteAll(pipe.Second, "late"u8);
            IoUringCqe cqe = ring.SubmitAndReapOne();

            Assert.Equal(4, cqe.Res);
        }
        Assert.Equal("late"u8.ToArray(), received.AsSpan(0, 4).ToArray());
    }

    [Fact]
    public void Read_from_an_eventfd_returns_the_accumulated_count()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        int eventFd = Libc.eventfd(0, Libc.EFD_CLOEXEC);
        Assert.True(eventFd >= 0, $"eventfd: {Errno.Describe(Libc.LastErrno)}");
        try
        {
            WriteCounter(eventFd, 3);
            WriteCounter(eventFd, 4);

            ulong value = 0;
            SqePrep.PrepRead(ref ring.GetSqe(), eventFd, &value, sizeof(ulong), 0, 2);
            IoUringCqe cqe = ring.SubmitAndReapOne();

            Assert.Equal(sizeof(ulong), cqe.Res);
            Assert.Equal(7ul, value);

            // The read reset the counter: a second read waits until the next write.
            SqePrep.PrepRead(ref ring.GetSqe(), eventFd, &value, sizeof(ulong), 0, 3);
            ring.Submit();
            Assert.False(ring.HasCompletions);
            WriteCounter(eventFd, 1);
            cqe = ring.SubmitAndReapOne();

            Assert.Equal(3ul, cqe.UserData);
            Assert.Equal(sizeof(ulong), cqe.Res);
            Assert.Equal(1ul, value);
        }
        finally
        {
            Libc.close(eventFd);
        }
    }

    private static void WriteCounter(int eventFd, ulong add) =>
        Assert.Equal(sizeof(ulong), (int)Libc.write(eventFd, &add, sizeof(ulong)));
}
