namespace RingCore.Transport.Interop;

// Values copied from the kernel's include/uapi/linux/io_uring.h (and nowhere else).
// Only what this transport uses is listed, plus two values its tests look for in the kernel (marked "tests").
// Newer than the 6.1 header: the kernel version that added a value is noted. test/RingCore.Transport.Tests/Ring/
// AbiLayoutTests.cs checks every value against the header.

internal static class IoUringSetupFlags
{
    public const uint CqSize = 1u << 3;          // IORING_SETUP_CQSIZE
    public const uint Clamp = 1u << 4;           // IORING_SETUP_CLAMP
    public const uint SubmitAll = 1u << 7;       // IORING_SETUP_SUBMIT_ALL
    public const uint CoopTaskrun = 1u << 8;     // IORING_SETUP_COOP_TASKRUN
    public const uint SingleIssuer = 1u << 12;   // IORING_SETUP_SINGLE_ISSUER
    public const uint DeferTaskrun = 1u << 13;   // IORING_SETUP_DEFER_TASKRUN
}

internal static class IoUringFeatures
{
    public const uint SingleMmap = 1u << 0;      // IORING_FEAT_SINGLE_MMAP
    public const uint NoDrop = 1u << 1;          // IORING_FEAT_NODROP (tests: a full CQ parks completions, never drops them)
    public const uint FastPoll = 1u << 5;        // IORING_FEAT_FAST_POLL
    public const uint ExtArg = 1u << 8;          // IORING_FEAT_EXT_ARG
}

internal static class IoUringOpcode
{
    // enum io_uring_op
    public const byte Nop = 0;
    public const byte PollAdd = 6;
    public const byte SendMsg = 9;
    public const byte Timeout = 11;
    public const byte Accept = 13;
    public const byte AsyncCancel = 14;
    public const byte Connect = 16;
    public const byte Read = 22;
    public const byte Send = 26;
    public const byte Recv = 27;
    public const byte Shutdown = 34;             // tests: the kernel could shut sockets down in the ring
    public const byte SendZc = 47;
}

internal static class IoUringSqeFlags
{
    public const byte BufferSelect = 1 << 5;     // IOSQE_BUFFER_SELECT
}

internal static class IoUringCqeFlags
{
    public const uint Buffer = 1u << 0;          // IORING_CQE_F_BUFFER
    public const uint More = 1u << 1;            // IORING_CQE_F_MORE
    public const uint BufMore = 1u << 4;         // IORING_CQE_F_BUF_MORE (Linux 6.12 uapi header)
    public const int BufferShift = 16;           // IORING_CQE_BUFFER_SHIFT
}

internal static class IoUringEnterFlags
{
    public const uint GetEvents = 1u << 0;       // IORING_ENTER_GETEVENTS
    public const uint ExtArg = 1u << 3;          // IORING_ENTER_EXT_ARG
    public const uint RegisteredRing = 1u << 4;  // IORING_ENTER_REGISTERED_RING
}

internal static class IoUringSqRingFlags
{
    public const uint CqOverflow = 1u << 1;      // IORING_SQ_CQ_OVERFLOW
}

internal static class IoUringMmapOffsets
{
    public const long SqRing = 0;                // IORING_OFF_SQ_RING
    public const long CqRing = 0x8000000;        // IORING_OFF_CQ_RING
    public const long Sqes = 0x10000000;         // IORING_OFF_SQES
}

internal static class IoUringRegisterOp
{
    public const uint RegisterProbe = 8;         // IORING_REGISTER_PROBE
    public const uint RegisterRingFds = 20;      // IORING_REGISTER_RING_FDS
    public const uint UnregisterRingFds = 21;    // IORING_UNREGISTER_RING_FDS
    public const uint RegisterPbufRing = 22;     // IORING_REGISTER_PBUF_RING
    public const uint UnregisterPbufRing = 23;   // IORING_UNREGISTER_PBUF_RING
}

internal static class IoUringPbufRingFlags
{
    public const ushort Incremental = 2;         // IOU_PBUF_RING_INC (Linux 6.12 uapi header)
}

internal static class IoUringOpFlags
{
    public const ushort RecvSendPollFirst = 1 << 0; // IORING_RECVSEND_POLL_FIRST (sqe->ioprio)
    public const ushort RecvMultishot = 1 << 1;  // IORING_RECV_MULTISHOT (sqe->ioprio)
    public const ushort AcceptMultishot = 1 << 0; // IORING_ACCEPT_MULTISHOT (sqe->ioprio)
    public const uint AsyncCancelAll = 1u << 0;  // IORING_ASYNC_CANCEL_ALL
    public const uint AsyncCancelFd = 1u << 1;   // IORING_ASYNC_CANCEL_FD
    public const uint AsyncCancelAny = 1u << 2;  // IORING_ASYNC_CANCEL_ANY
    public const uint PollAddMulti = 1u << 0;    // IORING_POLL_ADD_MULTI (sqe->len)
    public const uint ProbeOpSupported = 1u << 0; // IO_URING_OP_SUPPORTED
}

/// <summary>io_uring system call numbers; 425-427 on every Linux architecture.</summary>
internal static class IoUringSyscall
{
    public const int Setup = 425;
    public const int Enter = 426;
    public const int Register = 427;
}
