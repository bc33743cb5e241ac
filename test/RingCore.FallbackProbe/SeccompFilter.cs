using System.Runtime.InteropServices;

namespace RingCore.FallbackProbe;

/// <summary>
/// Installs a seccomp BPF filter on the whole process that makes chosen system calls fail the way a restricted host
/// answers them: io_uring_setup, io_uring_enter and io_uring_register with a chosen errno (EPERM as Docker's default
/// seccomp profile denies them, ENOSYS as a kernel without io_uring answers), and/or socket(AF_INET6, ...) with
/// EAFNOSUPPORT, as on a host booted with ipv6.disable=1. Every other system call is allowed.
/// </summary>
internal static unsafe partial class SeccompFilter
{
    private const int PR_SET_NO_NEW_PRIVS = 38;
    private const int SECCOMP_SET_MODE_FILTER = 1;
    private const int SECCOMP_FILTER_FLAG_TSYNC = 1;

    private const ushort BPF_LD_W_ABS = 0x20;   // BPF_LD | BPF_W | BPF_ABS
    private const ushort BPF_JMP_JEQ_K = 0x15;  // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort BPF_RET_K = 0x06;      // BPF_RET | BPF_K

    private const uint SECCOMP_RET_ERRNO = 0x00050000;
    private const uint SECCOMP_RET_ALLOW = 0x7fff0000;

    // struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }. Both ABIs here are
    // little-endian, so the low 32 bits of args[0] (socket's int domain) are at offset 16.
    private const uint OffsetOfNr = 0;
    private const uint OffsetOfArch = 4;
    private const uint OffsetOfArg0Low = 16;

    private const uint NrIoUringSetup = 425, NrIoUringEnter = 426, NrIoUringRegister = 427; // same on x86-64 and arm64
    private const uint AF_INET6 = 10;
    private const uint EAFNOSUPPORT = 97;

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFilter
    {
        public ushort Code;
        public byte Jt;
        public byte Jf;
        public uint K;

        public SockFilter(ushort code, byte jt, byte jf, uint k)
        {
            Code = code;
            Jt = jt;
            Jf = jf;
            K = k;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFprog
    {
        public ushort Len;
        public SockFilter* Filter;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, nint a1, nint a2, nint a3);

    /// <summary>
    /// Installs the filter, or returns why it could not. <paramref name="ioUringErrno"/>: the errno the io_uring calls
    /// get (null: allowed); <paramref name="denyIPv6Sockets"/>: socket(AF_INET6, ...) fails with EAFNOSUPPORT.
    /// </summary>
    public static string? TryInstall(int? ioUringErrno, bool denyIPv6Sockets)
    {
        if (sizeof(SockFilter) != 8 || sizeof(SockFprog) != 16)
        {
            return $"unexpected struct sizes: sock_filter {sizeof(SockFilter)}, sock_fprog {sizeof(SockFprog)}";
        }

        (long sysSeccomp, uint auditArch, uint nrSocket) = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => (317L, 0xC000003Eu, 41u),    // AUDIT_ARCH_X86_64
            Architecture.Arm64 => (277L, 0xC00000B7u, 198u), // AUDIT_ARCH_AARCH64
            _ => (0L, 0u, 0u),
        };
        if (sysSeccomp == 0)
        {
            return $"no seccomp filter for process architecture {RuntimeInformation.ProcessArchitecture}";
        }

        var program = new FilterProgram();
        program.Load(OffsetOfArch);
        program.JumpIfEqual(auditArch, whenFalse: "allow"); // another ABI: not ours to judge
        program.Load(OffsetOfNr);
        if (ioUringErrno is not null)
        {
            program.JumpIfEqual(NrIoUringSetup, whenTrue: "deny io_uring");
            program.JumpIfEqual(NrIoUringEnter, whenTrue: "deny io_uring");
            program.JumpIfEqual(NrIoUringRegister, whenTrue: "deny io_uring");
        }
        if (denyIPv6Sockets)
        {
            program.JumpIfEqual(nrSocket, whenFalse: "allow");
            program.Load(OffsetOfArg0Low);
            program.JumpIfEqual(AF_INET6, whenTrue: "deny AF_INET6", whenFalse: "allow");
        }
        program.Label("allow");
        program.Return(SECCOMP_RET_ALLOW);
        if (ioUringErrno is int errno)
        {
            program.Label("deny io_uring");
            program.Return(SECCOMP_RET_ERRNO | ((uint)errno & 0xFFFF));
        }
        if (denyIPv6Sockets)
        {
            program.Label("deny AF_INET6");
            program.Return(SECCOMP_RET_ERRNO | EAFNOSUPPORT);
        }

        SockFilter[] code = program.Assemble();
        fixed (SockFilter* filter = code)
        {
            var fprog = new SockFprog { Len = (ushort)code.Length, Filter = filter };
            return Install(sysSeccomp, &fprog);
        }
    }

    private static string? Install(long sysSeccomp, SockFprog* fprog)
    {
        // Unprivileged processes may only install a filter once they can gain no privileges.
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        {
            return $"prctl(PR_SET_NO_NEW_PRIVS) failed: {Describe(Marshal.GetLastPInvokeError())}";
        }

        // TSYNC applies the filter to every thread the runtime has already started (and sets no_new_privs on
        // them); it returns the id of a thread it could not synchronise, or -1 with errno.
        long result = syscall(sysSeccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, (nint)fprog);
        if (result < 0)
        {
            return $"seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) failed: {Describe(Marshal.GetLastPInvokeError())}";
        }
        if (result > 0)
        {
            return $"seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) could not synchronise thread {result}";
        }
        return null;
    }

    /// <summary>
    /// A classic BPF program written with named jump targets; <see cref="Assemble"/> turns them into the relative
    /// offsets BPF wants (a jump skips that many instructions), so that adding a rule needs no hand counting.
    /// </summary>
    private sealed class FilterProgram
    {
        private readonly List<(ushort Code, uint K, string? WhenTrue, string? WhenFalse)> _instructions = [];
        private readonly Dictionary<string, int> _labels = [];

        public void Load(uint offset) => _instructions.Add((BPF_LD_W_ABS, offset, null, null));

        /// <summary>Compares the loaded word with <paramref name="value"/>; a missing target means the next instruction.</summary>
        public void JumpIfEqual(uint value, string? whenTrue = null, string? whenFalse = null) =>
            _instructions.Add((BPF_JMP_JEQ_K, value, whenTrue, whenFalse));

        public void Return(uint action) => _instructions.Add((BPF_RET_K, action, null, null));

        public void Label(string name) => _labels.Add(name, _instructions.Count);

        public SockFilter[] Assemble()
        {
            var code = new SockFilter[_instructions.Count];
            for (int pc = 0; pc < code.Length; pc++)
            {
                var (op, k, whenTrue, whenFalse) = _instructions[pc];
                code[pc] = new SockFilter(op, Offset(pc, whenTrue), Offset(pc, whenFalse), k);
            }
            return code;
        }

        private byte Offset(int pc, string? label) => label is null ? (byte)0 : checked((byte)(_labels[label] - pc - 1));
    }

    private static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
