using System.Runtime.InteropServices;

namespace RingCore.Transport.Interop;

// Structures of the io_uring ABI, laid out byte for byte as in the kernel's
// include/uapi/linux/io_uring.h. Sizes and offsets are asserted by tests.

/// <summary>struct io_uring_sqe (64 bytes; the unions are collapsed to the members we use).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct IoUringSqe
{
    [FieldOffset(0)] public byte Opcode;
    [FieldOffset(1)] public byte Flags;
    [FieldOffset(2)] public ushort IoPrio;
    [FieldOffset(4)] public int Fd;
    [FieldOffset(8)] public ulong Off;            // also addr2
    [FieldOffset(16)] public ulong Addr;          // also splice_off_in
    [FieldOffset(24)] public uint Len;
    [FieldOffset(28)] public uint OpFlags;        // rw_flags, msg_flags, accept_flags, cancel_flags, timeout_flags...
    [FieldOffset(32)] public ulong UserData;
    [FieldOffset(40)] public ushort BufIndex;     // also buf_group
    [FieldOffset(42)] public ushort Personality;
    [FieldOffset(44)] public int SpliceFdIn;      // also file_index, addr_len
    [FieldOffset(48)] public ulong Addr3;
    [FieldOffset(56)] public ulong Pad2;
}

/// <summary>struct io_uring_cqe (16 bytes; no CQE32).</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct IoUringCqe
{
    public ulong UserData;
    public int Res;
    public uint Flags;
}

/// <summary>struct io_sqring_offsets (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 40)]
internal struct IoSqRingOffsets
{
    public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
    public ulong Resv2;
}

/// <summary>struct io_cqring_offsets (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 40)]
internal struct IoCqRingOffsets
{
    public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
    public ulong Resv2;
}

/// <summary>struct io_uring_params (120 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 120)]
internal struct IoUringParams
{
    public uint SqEntries;
    public uint CqEntries;
    public uint Flags;
    public uint SqThreadCpu;
    public uint SqThreadIdle;
    public uint Features;
    public uint WqFd;
    public uint Resv0, Resv1, Resv2;
    public IoSqRingOffsets SqOff;
    public IoCqRingOffsets CqOff;
}

/// <summary>struct io_uring_buf (16 bytes): one entry of a provided-buffer ring.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct IoUringBuf
{
    public ulong Addr;
    public uint Len;
    public ushort Bid;
    public ushort Resv;   // for entry 0 this is the ring's tail
}

/// <summary>struct io_uring_buf_reg (40 bytes): argument of IORING_REGISTER_PBUF_RING.</summary>
[StructLayout(LayoutKind.Sequential, Size = 40)]
internal struct IoUringBufReg
{
    public ulong RingAddr;
    public uint RingEntries;
    public ushort Bgid;
    public ushort Flags;   // "pad" in the 6.1 header; flags (IOU_PBUF_RING_*) since Linux 6.4
    public ulong Resv0, Resv1, Resv2;
}

/// <summary>struct io_uring_rsrc_update (16 bytes): argument of IORING_REGISTER_RING_FDS.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct IoUringRsrcUpdate
{
    public uint Offset;
    public uint Resv;
    public ulong Data;
}

/// <summary>struct io_uring_probe header (16 bytes), followed by ops_len io_uring_probe_op entries.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct IoUringProbe
{
    public byte LastOp;
    public byte OpsLen;
    public ushort Resv;
    public uint Resv2a, Resv2b, Resv2c;
}

/// <summary>struct io_uring_probe_op (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 8)]
internal struct IoUringProbeOp
{
    public byte Op;
    public byte Resv;
    public ushort Flags;
    public uint Resv2;
}

/// <summary>struct __kernel_timespec (16 bytes), used by IORING_OP_TIMEOUT.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct KernelTimespec
{
    public long Seconds;
    public long Nanoseconds;
}

/// <summary>struct io_uring_getevents_arg (24 bytes): the argument of io_uring_enter with IORING_ENTER_EXT_ARG.</summary>
[StructLayout(LayoutKind.Sequential, Size = 24)]
internal struct IoUringGeteventsArg
{
    public ulong SigMask;     // user pointer to a sigset, 0 for none
    public uint SigMaskSize;
    public uint Pad;
    public ulong Timeout;     // user pointer to a struct __kernel_timespec, 0 for none
}
