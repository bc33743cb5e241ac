using RingCore.Transport.Interop;

namespace RingCore.Transport.Ring;

/// <summary>Which opcodes the running kernel supports, from IORING_REGISTER_PROBE.</summary>
internal sealed unsafe class OpcodeSupport
{
    private const int MaxOps = 256;
    private readonly bool[] _supported;

    private OpcodeSupport(bool[] supported) => _supported = supported;

    public bool IsSupported(byte opcode) => opcode < _supported.Length && _supported[opcode];

    public static OpcodeSupport Probe(int ringFd)
    {
        int size = sizeof(IoUringProbe) + MaxOps * sizeof(IoUringProbeOp);
        byte* buffer = stackalloc byte[size];
        new Span<byte>(buffer, size).Clear();
        long rc = Libc.syscall(IoUringSyscall.Register, ringFd, (nint)IoUringRegisterOp.RegisterProbe, (nint)buffer, MaxOps, 0, 0);
        var supported = new bool[MaxOps];
        if (rc < 0)
        {
            return new OpcodeSupport(supported); // probing itself needs 5.6; report nothing supported
        }
        var header = (IoUringProbe*)buffer;
        var ops = (IoUringProbeOp*)(buffer + sizeof(IoUringProbe));
        for (int i = 0; i < header->OpsLen && i < MaxOps; i++)
        {
            supported[ops[i].Op] = (ops[i].Flags & IoUringOpFlags.ProbeOpSupported) != 0;
        }
        return new OpcodeSupport(supported);
    }
}
