using RingCore.Transport.Interop;

namespace RingCore.Transport.Ring;

/// <summary>What the transport needs of a kernel beyond a working ring, checked once per ring.</summary>
internal static class RingRequirements
{
    public static readonly Version MinimumKernel = new(6, 0);

    private static readonly (byte Opcode, string Name, string Kernel)[] RequiredOpcodes =
    [
        (IoUringOpcode.Accept, "IORING_OP_ACCEPT", "Linux 5.5"),
        (IoUringOpcode.PollAdd, "IORING_OP_POLL_ADD", "Linux 5.1"),
        (IoUringOpcode.AsyncCancel, "IORING_OP_ASYNC_CANCEL", "Linux 5.5"),
        (IoUringOpcode.Read, "IORING_OP_READ", "Linux 5.6"),
        (IoUringOpcode.Send, "IORING_OP_SEND", "Linux 5.6"),
        (IoUringOpcode.Recv, "IORING_OP_RECV", "Linux 5.6"),
        (IoUringOpcode.SendMsg, "IORING_OP_SENDMSG", "Linux 5.3"),
        (IoUringOpcode.Timeout, "IORING_OP_TIMEOUT", "Linux 5.4"),
    ];

    /// <summary>Throws <see cref="RingUnavailableException"/> naming the first missing piece.</summary>
    public static void Check(IoUring ring)
    {
        if ((ring.Features & IoUringFeatures.FastPoll) == 0)
        {
            throw RingUnavailableException.MissingFeature("IORING_FEAT_FAST_POLL (poll-driven socket I/O)", "Linux 5.7");
        }
        foreach (var (opcode, name, kernel) in RequiredOpcodes)
        {
            if (!ring.Opcodes.IsSupported(opcode))
            {
                throw RingUnavailableException.MissingFeature(name, kernel);
            }
        }
        // Multishot accept (5.19) has no probe bit, and 6.0 is the oldest kernel this transport is tested on; the
        // kernel version stands in.
        if (Environment.OSVersion.Version < MinimumKernel)
        {
            throw RingUnavailableException.MissingFeature("multishot accept with provided-buffer receives (the tested baseline)", "Linux 6.0");
        }
    }
}
