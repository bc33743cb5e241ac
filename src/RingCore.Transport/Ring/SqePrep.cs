using RingCore.Transport.Interop;

namespace RingCore.Transport.Ring;

/// <summary>
/// Fills an SQE in place for one operation, in the vocabulary of liburing's io_uring_prep_* helpers.
/// The SQE comes from <see cref="IoUring.GetSqe"/> already zeroed.
/// </summary>
internal static unsafe class SqePrep
{
    public static void PrepNop(ref IoUringSqe sqe, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.Nop;
        sqe.UserData = userData;
    }

    public static void PrepRead(ref IoUringSqe sqe, int fd, void* buffer, uint length, ulong offset, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.Read;
        sqe.Fd = fd;
        sqe.Addr = (ulong)buffer;
        sqe.Len = length;
        sqe.Off = offset;
        sqe.UserData = userData;
    }

    /// <summary>
    /// A recv that picks its buffer from provided-buffer group <paramref name="bufferGroup"/>; a multishot one stays
    /// armed (CQEs with IORING_CQE_F_MORE) until an error, end of stream, an empty buffer ring or a cancel. With
    /// <paramref name="pollFirst"/> the kernel waits for the socket to be readable before it tries.
    /// </summary>
    public static void PrepRecvBufferSelect(ref IoUringSqe sqe, int fd, ushort bufferGroup, bool multishot, ulong userData, bool pollFirst = false)
    {
        sqe.Opcode = IoUringOpcode.Recv;
        sqe.Fd = fd;
        sqe.Flags = IoUringSqeFlags.BufferSelect;
        sqe.BufIndex = bufferGroup;
        sqe.IoPrio = (ushort)((multishot ? IoUringOpFlags.RecvMultishot : 0) | (pollFirst ? IoUringOpFlags.RecvSendPollFirst : 0));
        sqe.UserData = userData;
    }

    /// <summary>
    /// A one-shot poll for <paramref name="pollMask"/> (POLL* bits) on <paramref name="fd"/>: completes once, with
    /// the events that fired, when any of them is (or already was) true.
    /// </summary>
    public static void PrepPollAdd(ref IoUringSqe sqe, int fd, uint pollMask, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.PollAdd;
        sqe.Fd = fd;
        sqe.OpFlags = pollMask; // poll32_events: the same 32 bits as rw_flags/msg_flags
        sqe.UserData = userData;
    }

    /// <summary>A multishot poll: one CQE (with F_MORE) for every wake-up of the file that matches the mask.</summary>
    public static void PrepPollMultishot(ref IoUringSqe sqe, int fd, uint pollMask, ulong userData)
    {
        PrepPollAdd(ref sqe, fd, pollMask, userData);
        sqe.Len = IoUringOpFlags.PollAddMulti;
    }

    public static void PrepSend(ref IoUringSqe sqe, int fd, void* buffer, uint length, uint msgFlags, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.Send;
        sqe.Fd = fd;
        sqe.Addr = (ulong)buffer;
        sqe.Len = length;
        sqe.OpFlags = msgFlags;
        sqe.UserData = userData;
    }

    public static void PrepSendMsg(ref IoUringSqe sqe, int fd, MsgHdr* msg, uint msgFlags, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.SendMsg;
        sqe.Fd = fd;
        sqe.Addr = (ulong)msg;
        sqe.Len = 1;
        sqe.OpFlags = msgFlags;
        sqe.UserData = userData;
    }

    /// <summary>Multishot accept without peer address (the connection asks for it later).</summary>
    public static void PrepMultishotAccept(ref IoUringSqe sqe, int listenFd, int acceptFlags, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.Accept;
        sqe.Fd = listenFd;
        sqe.IoPrio = IoUringOpFlags.AcceptMultishot;
        sqe.OpFlags = (uint)acceptFlags;
        sqe.UserData = userData;
    }

    /// <summary>
    /// Connects <paramref name="fd"/> to the sockaddr at <paramref name="address"/> (liburing's io_uring_prep_connect:
    /// the address length travels in the offset field). The address must stay valid until the CQE.
    /// </summary>
    public static void PrepConnect(ref IoUringSqe sqe, int fd, byte* address, int addressLength, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.Connect;
        sqe.Fd = fd;
        sqe.Addr = (ulong)address;
        sqe.Off = (ulong)addressLength;
        sqe.UserData = userData;
    }

    /// <summary>Cancels the request whose user_data is <paramref name="target"/>.</summary>
    public static void PrepCancel(ref IoUringSqe sqe, ulong target, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.AsyncCancel;
        sqe.Fd = -1;
        sqe.Addr = target;
        sqe.UserData = userData;
    }

    /// <summary>Cancels every request on file descriptor <paramref name="fd"/>.</summary>
    public static void PrepCancelFd(ref IoUringSqe sqe, int fd, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.AsyncCancel;
        sqe.Fd = fd;
        sqe.OpFlags = IoUringOpFlags.AsyncCancelFd | IoUringOpFlags.AsyncCancelAll;
        sqe.UserData = userData;
    }

    /// <summary>Cancels every request in flight on the ring (ANY | ALL); the CQE's result is how many were found.</summary>
    public static void PrepCancelEverything(ref IoUringSqe sqe, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.AsyncCancel;
        sqe.Fd = -1;
        sqe.OpFlags = IoUringOpFlags.AsyncCancelAny | IoUringOpFlags.AsyncCancelAll;
        sqe.UserData = userData;
    }

    /// <summary>A relative timeout; <paramref name="timespec"/> must stay valid until the SQE is submitted.</summary>
    public static void PrepTimeout(ref IoUringSqe sqe, KernelTimespec* timespec, ulong userData)
    {
        sqe.Opcode = IoUringOpcode.Timeout;
        sqe.Fd = -1;
        sqe.Addr = (ulong)timespec;
        sqe.Len = 1;
        sqe.UserData = userData;
    }
}
