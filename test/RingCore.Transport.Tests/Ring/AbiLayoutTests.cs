using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RingCore.Transport.Interop;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// The managed mirrors of the kernel ABI must match include/uapi/linux/io_uring.h (and the libc structs) byte for
/// byte: sizes, field offsets and constant values.
/// </summary>
public class AbiLayoutTests
{
    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Fact]
    public void Sqe_matches_struct_io_uring_sqe()
    {
        Assert.Equal(64, Unsafe.SizeOf<IoUringSqe>());
        Assert.Equal(0, Offset<IoUringSqe>(nameof(IoUringSqe.Opcode)));
        Assert.Equal(1, Offset<IoUringSqe>(nameof(IoUringSqe.Flags)));
        Assert.Equal(2, Offset<IoUringSqe>(nameof(IoUringSqe.IoPrio)));
        Assert.Equal(4, Offset<IoUringSqe>(nameof(IoUringSqe.Fd)));
        Assert.Equal(8, Offset<IoUringSqe>(nameof(IoUringSqe.Off)));
        Assert.Equal(16, Offset<IoUringSqe>(nameof(IoUringSqe.Addr)));
        Assert.Equal(24, Offset<IoUringSqe>(nameof(IoUringSqe.Len)));
        Assert.Equal(28, Offset<IoUringSqe>(nameof(IoUringSqe.OpFlags)));
        Assert.Equal(32, Offset<IoUringSqe>(nameof(IoUringSqe.UserData)));
        Assert.Equal(40, Offset<IoUringSqe>(nameof(IoUringSqe.BufIndex)));
        Assert.Equal(42, Offset<IoUringSqe>(nameof(IoUringSqe.Personality)));
        Assert.Equal(44, Offset<IoUringSqe>(nameof(IoUringSqe.SpliceFdIn)));
        Assert.Equal(48, Offset<IoUringSqe>(nameof(IoUringSqe.Addr3)));
        Assert.Equal(56, Offset<IoUringSqe>(nameof(IoUringSqe.Pad2)));
    }

    [Fact]
    public void Cqe_matches_struct_io_uring_cqe()
    {
        Assert.Equal(16, Unsafe.SizeOf<IoUringCqe>());
        Assert.Equal(0, Offset<IoUringCqe>(nameof(IoUringCqe.UserData)));
        Assert.Equal(8, Offset<IoUringCqe>(nameof(IoUringCqe.Res)));
        Assert.Equal(12, Offset<IoUringCqe>(nameof(IoUringCqe.Flags)));
    }

    [Fact]
    public void Params_and_ring_offsets_match_the_kernel()
    {
        Assert.Equal(120, Unsafe.SizeOf<IoUringParams>());
        Assert.Equal(0, Offset<IoUringParams>(nameof(IoUringParams.SqEntries)));
        Assert.Equal(4, Offset<IoUringParams>(nameof(IoUringParams.CqEntries)));
        Assert.Equal(8, Offset<IoUringParams>(nameof(IoUringParams.Flags)));
        Assert.Equal(20, Offset<IoUringParams>(nameof(IoUringParams.Features)));
        Assert.Equal(24, Offset<IoUringParams>(nameof(IoUringParams.WqFd)));
        Assert.Equal(40, Offset<IoUringParams>(nameof(IoUringParams.SqOff)));
        Assert.Equal(80, Offset<IoUringParams>(nameof(IoUringParams.CqOff)));

        Assert.Equal(40, Unsafe.SizeOf<IoSqRingOffsets>());
        Assert.Equal(0, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.Head)));
        Assert.Equal(4, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.Tail)));
        Assert.Equal(8, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.RingMask)));
        Assert.Equal(12, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.RingEntries)));
        Assert.Equal(16, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.Flags)));
        Assert.Equal(20, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.Dropped)));
        Assert.Equal(24, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.Array)));
        Assert.Equal(32, Offset<IoSqRingOffsets>(nameof(IoSqRingOffsets.Resv2)));

        Assert.Equal(40, Unsafe.SizeOf<IoCqRingOffsets>());
        Assert.Equal(0, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.Head)));
        Assert.Equal(4, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.Tail)));
        Assert.Equal(8, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.RingMask)));
        Assert.Equal(12, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.RingEntries)));
        Assert.Equal(16, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.Overflow)));
        Assert.Equal(20, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.Cqes)));
        Assert.Equal(24, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.Flags)));
        Assert.Equal(32, Offset<IoCqRingOffsets>(nameof(IoCqRingOffsets.Resv2)));
    }

    [Fact]
    public void Buffer_ring_structs_match_the_kernel()
    {
        Assert.Equal(16, Unsafe.SizeOf<IoUringBuf>());
        Assert.Equal(0, Offset<IoUringBuf>(nameof(IoUringBuf.Addr)));
        Assert.Equal(8, Offset<IoUringBuf>(nameof(IoUringBuf.Len)));
        Assert.Equal(12, Offset<IoUringBuf>(nameof(IoUringBuf.Bid)));
        Assert.Equal(14, Offset<IoUringBuf>(nameof(IoUringBuf.Resv))); // struct io_uring_buf_ring's tail overlays this

        Assert.Equal(40, Unsafe.SizeOf<IoUringBufReg>());
        Assert.Equal(0, Offset<IoUringBufReg>(nameof(IoUringBufReg.RingAddr)));
        Assert.Equal(8, Offset<IoUringBufReg>(nameof(IoUringBufReg.RingEntries)));
        Assert.Equal(12, Offset<IoUringBufReg>(nameof(IoUringBufReg.Bgid)));
        Assert.Equal(16, Offset<IoUringBufReg>(nameof(IoUringBufReg.Resv0)));
    }

    [Fact]
    public void Register_argument_structs_match_the_kernel()
    {
        Assert.Equal(16, Unsafe.SizeOf<IoUringRsrcUpdate>());
        Assert.Equal(0, Offset<IoUringRsrcUpdate>(nameof(IoUringRsrcUpdate.Offset)));
        Assert.Equal(8, Offset<IoUringRsrcUpdate>(nameof(IoUringRsrcUpdate.Data)));

        Assert.Equal(16, Unsafe.SizeOf<IoUringProbe>());
        Assert.Equal(0, Offset<IoUringProbe>(nameof(IoUringProbe.LastOp)));
        Assert.Equal(1, Offset<IoUringProbe>(nameof(IoUringProbe.OpsLen)));

        Assert.Equal(8, Unsafe.SizeOf<IoUringProbeOp>());
        Assert.Equal(0, Offset<IoUringProbeOp>(nameof(IoUringProbeOp.Op)));
        Assert.Equal(2, Offset<IoUringProbeOp>(nameof(IoUringProbeOp.Flags)));

        Assert.Equal(16, Unsafe.SizeOf<KernelTimespec>());
        Assert.Equal(0, Offset<KernelTimespec>(nameof(KernelTimespec.Seconds)));
        Assert.Equal(8, Offset<KernelTimespec>(nameof(KernelTimespec.Nanoseconds)));
        Assert.Equal(24, Unsafe.SizeOf<IoUringGeteventsArg>());
        Assert.Equal(8, Offset<IoUringGeteventsArg>(nameof(IoUringGeteventsArg.SigMaskSize)));
        Assert.Equal(16, Offset<IoUringGeteventsArg>(nameof(IoUringGeteventsArg.Timeout)));
    }

    [Fact]
    public void Libc_structs_match_64_bit_linux()
    {
        Assert.Equal(16, Unsafe.SizeOf<IoVec>());
        Assert.Equal(0, Offset<IoVec>(nameof(IoVec.Base)));
        Assert.Equal(8, Offset<IoVec>(nameof(IoVec.Length)));

        Assert.Equal(56, Unsafe.SizeOf<MsgHdr>());
        Assert.Equal(0, Offset<MsgHdr>(nameof(MsgHdr.Name)));
        Assert.Equal(8, Offset<MsgHdr>(nameof(MsgHdr.NameLen)));
        Assert.Equal(16, Offset<MsgHdr>(nameof(MsgHdr.Iov)));
        Assert.Equal(24, Offset<MsgHdr>(nameof(MsgHdr.IovLen)));
        Assert.Equal(32, Offset<MsgHdr>(nameof(MsgHdr.Control)));
        Assert.Equal(40, Offset<MsgHdr>(nameof(MsgHdr.ControlLen)));
        Assert.Equal(48, Offset<MsgHdr>(nameof(MsgHdr.Flags)));
    }

    [Fact]
    public void Opcodes_match_enum_io_uring_op()
    {
        Assert.Equal(0, IoUringOpcode.Nop);
        Assert.Equal(6, IoUringOpcode.PollAdd);
        Assert.Equal(9, IoUringOpcode.SendMsg);
        Assert.Equal(11, IoUringOpcode.Timeout);
        Assert.Equal(13, IoUringOpcode.Accept);
        Assert.Equal(14, IoUringOpcode.AsyncCancel);
        Assert.Equal(16, IoUringOpcode.Connect);
        Assert.Equal(22, IoUringOpcode.Read);
        Assert.Equal(26, IoUringOpcode.Send);
        Assert.Equal(27, IoUringOpcode.Recv);
        Assert.Equal(34, IoUringOpcode.Shutdown);
        Assert.Equal(47, IoUringOpcode.SendZc);
    }

    [Fact]
    public void Flag_constants_match_the_uapi_header()
    {
        Assert.Equal(1u << 3, IoUringSetupFlags.CqSize);
        Assert.Equal(1u << 4, IoUringSetupFlags.Clamp);
        Assert.Equal(1u << 7, IoUringSetupFlags.SubmitAll);
        Assert.Equal(1u << 8, IoUringSetupFlags.CoopTaskrun);
        Assert.Equal(1u << 12, IoUringSetupFlags.SingleIssuer);
        Assert.Equal(1u << 13, IoUringSetupFlags.DeferTaskrun);

        Assert.Equal(1u << 0, IoUringFeatures.SingleMmap);
        Assert.Equal(1u << 1, IoUringFeatures.NoDrop);
        Assert.Equal(1u << 5, IoUringFeatures.FastPoll);
        Assert.Equal(1u << 8, IoUringFeatures.ExtArg);

        Assert.Equal(1 << 5, IoUringSqeFlags.BufferSelect);

        Assert.Equal(1u << 0, IoUringCqeFlags.Buffer);
        Assert.Equal(1u << 1, IoUringCqeFlags.More);
        Assert.Equal(1u << 4, IoUringCqeFlags.BufMore);
        Assert.Equal(16, IoUringCqeFlags.BufferShift);
        Assert.Equal(2, IoUringPbufRingFlags.Incremental);

        Assert.Equal(1u << 0, IoUringEnterFlags.GetEvents);
        Assert.Equal(1u << 3, IoUringEnterFlags.ExtArg);
        Assert.Equal(1u << 4, IoUringEnterFlags.RegisteredRing);

        Assert.Equal(1u << 1, IoUringSqRingFlags.CqOverflow);

        Assert.Equal(0L, IoUringMmapOffsets.SqRing);
        Assert.Equal(0x8000000L, IoUringMmapOffsets.CqRing);
        Assert.Equal(0x10000000L, IoUringMmapOffsets.Sqes);

        Assert.Equal(8u, IoUringRegisterOp.RegisterProbe);
        Assert.Equal(20u, IoUringRegisterOp.RegisterRingFds);
        Assert.Equal(21u, IoUringRegisterOp.UnregisterRingFds);
        Assert.Equal(22u, IoUringRegisterOp.RegisterPbufRing);
        Assert.Equal(23u, IoUringRegisterOp.UnregisterPbufRing);

        Assert.Equal(1 << 0, IoUringOpFlags.RecvSendPollFirst);
        Assert.Equal(1 << 1, IoUringOpFlags.RecvMultishot);
        Assert.Equal(1 << 0, IoUringOpFlags.AcceptMultishot);
        Assert.Equal(1u << 0, IoUringOpFlags.AsyncCancelAll);
        Assert.Equal(1u << 1, IoUringOpFlags.AsyncCancelFd);
        Assert.Equal(1u << 0, IoUringOpFlags.ProbeOpSupported);

        Assert.Equal(425, IoUringSyscall.Setup);
        Assert.Equal(426, IoUringSyscall.Enter);
        Assert.Equal(427, IoUringSyscall.Register);
    }
}
