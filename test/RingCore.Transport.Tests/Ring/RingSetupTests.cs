using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>What <see cref="IoUring.Create"/> gets from this kernel (Linux 6.1+ is assumed for the best rung).</summary>
public class RingSetupTests
{
    [Fact]
    public void Default_ring_gets_single_issuer_and_defer_taskrun()
    {
        using var ring = IoUring.Create(new RingSetupOptions());

        Assert.True(ring.HasSingleIssuer);
        Assert.True(ring.HasDeferTaskrun);
        uint wanted = IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun | IoUringSetupFlags.SubmitAll;
        Assert.Equal(wanted, ring.SetupFlags & wanted);
        Assert.Equal(0u, ring.SetupFlags & IoUringSetupFlags.CoopTaskrun); // the rung with DEFER_TASKRUN does not ask for it
    }

    [Fact]
    public void Default_ring_sizes_the_completion_queue_above_the_submission_queue()
    {
        using var ring = IoUring.Create(new RingSetupOptions());

        Assert.Equal(256u, ring.SqEntries);
        Assert.True(ring.CqEntries > ring.SqEntries, $"CQ {ring.CqEntries} should exceed SQ {ring.SqEntries}");
        Assert.Equal(4 * ring.SqEntries, ring.CqEntries);
    }

    [Fact]
    public void Explicit_sizes_are_honoured()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8, CqEntries = 16 });

        Assert.Equal(8u, ring.SqEntries);
        Assert.Equal(16u, ring.CqEntries);
    }

    [Fact]
    public void Ring_fd_is_registered_and_the_kernel_features_we_rely_on_are_present()
    {
        using var ring = IoUring.Create(new RingSetupOptions());

        Assert.True(ring.RingFdRegistered);
        Assert.True(ProcSelf.IsIoUringFd(ring.RingFd), $"fd {ring.RingFd} is {ProcSelf.FdTarget(ring.RingFd)}");
        Assert.NotEqual(0u, ring.Features & IoUringFeatures.SingleMmap);
        Assert.NotEqual(0u, ring.Features & IoUringFeatures.NoDrop);
        Assert.NotEqual(0u, ring.Features & IoUringFeatures.FastPoll);
    }

    [Fact]
    public void Probe_reports_the_opcodes_the_transport_uses()
    {
        using var ring = IoUring.Create(new RingSetupOptions());

        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.Nop));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.Recv));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.Send));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.SendMsg));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.Accept));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.AsyncCancel));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.Read));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.Shutdown));
        Assert.True(ring.Opcodes.IsSupported(IoUringOpcode.SendZc));
        Assert.False(ring.Opcodes.IsSupported(255)); // far beyond IORING_OP_LAST
    }

    [Fact]
    public void Without_single_issuer_the_ring_falls_back_to_a_lower_rung_and_still_works()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SingleIssuer = false });

        Assert.False(ring.HasSingleIssuer);
        Assert.False(ring.HasDeferTaskrun);
        SqePrep.PrepNop(ref ring.GetSqe(), 42);
        Assert.Equal(42ul, ring.SubmitAndReapOne().UserData);
    }

    [Fact]
    public void Without_ring_fd_registration_enter_uses_the_plain_fd_and_still_works()
    {
        using var ring = IoUring.Create(new RingSetupOptions { RegisterRingFd = false });

        Assert.False(ring.RingFdRegistered);
        SqePrep.PrepNop(ref ring.GetSqe(), 7);
        Assert.Equal(7ul, ring.SubmitAndReapOne().UserData);
    }

    [Fact]
    public void Many_rings_created_and_disposed_on_one_thread_each_get_their_ring_fd_registered()
    {
        // The kernel keeps at most 16 registered ring fds per thread (IO_RINGFD_REG_MAX); Dispose must give the
        // slot back, or the 17th ring on a long-lived thread silently loses the registration (and the kernel keeps
        // every disposed ring alive until the thread exits).
        for (int i = 0; i < 40; i++)
        {
            using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 4 });
            Assert.True(ring.RingFdRegistered, $"ring #{i} did not get its fd registered");
        }
    }
}
