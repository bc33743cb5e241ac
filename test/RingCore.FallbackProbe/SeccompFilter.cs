using System.Runtime.InteropServices;

namespace RingCore.FallbackProbe;

/// <summary>
/// Installs a seccomp BPF filter on the whole process that makes io_uring_setup, io_uring_enter and
/// io_uring_register fail with a chosen errno, the way Docker's default seccomp profile denies them (EPERM) or a
/// kernel without io_uring answers (ENOSYS). Every other system call is allowed.
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

    private const uint OffsetOfNr = 0;    // struct seccomp_data { int nr; __u32 arch; ... }
    private const uint OffsetOfArch = 4;

    private const uint NrIoUringSetup = 425, NrIoUringEnter = 426, NrIoUringRegister = 427; // same on x86-64 and arm64

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

    /// <summary>Installs the filter, or returns why it could not.</summary>
    public static string? TryInstall(int errno)
    {
        if (sizeof(SockFilter) != 8 || sizeof(SockFprog) != 16)
        {
            return $"unexpected struct sizes: sock_filter {sizeof(SockFilter)}, sock_fprog {sizeof(SockFprog)}";
        }

        (long sysSeccomp, uint auditArch) = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => (317L, 0xC000003Eu),   // AUDIT_ARCH_X86_64
            Architecture.Arm64 => (277L, 0xC00000B7u), // AUDIT_ARCH_AARCH64
            _ => (0L, 0u),
        };
        if (sysSeccomp == 0)
        {
            return $"no seccomp filter for process architecture {RuntimeInformation.ProcessArchitecture}";
        }

        SockFilter* program = stackalloc SockFilter[]
        {
            /* 0 */ new(BPF_LD_W_ABS, 0, 0, OffsetOfArch),
            /* 1 */ new(BPF_JMP_JEQ_K, 0, 5, auditArch),         // another ABI: allow (-> 7)
            /* 2 */ new(BPF_LD_W_ABS, 0, 0, OffsetOfNr),
            /* 3 */ new(BPF_JMP_JEQ_K, 2, 0, NrIoUringSetup),    // -> 6
            /* 4 */ new(BPF_JMP_JEQ_K, 1, 0, NrIoUringEnter),    // -> 6
            /* 5 */ new(BPF_JMP_JEQ_K, 0, 1, NrIoUringRegister), // -> 6, else -> 7
            /* 6 */ new(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | ((uint)errno & 0xFFFF)),
            /* 7 */ new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        };
        var fprog = new SockFprog { Len = 8, Filter = program };

        // Unprivileged processes may only install a filter once they can gain no privileges.
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        {
            return $"prctl(PR_SET_NO_NEW_PRIVS) failed: {Describe(Marshal.GetLastPInvokeError())}";
        }

        // TSYNC applies the filter to every thread the runtime has already started (and sets no_new_privs on
        // them); it returns the id of a thread it could not synchronise, or -1 with errno.
        long result = syscall(sysSeccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, (nint)(&fprog));
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

    private static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
