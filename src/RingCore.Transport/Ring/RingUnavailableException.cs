using RingCore.Transport.Interop;

namespace RingCore.Transport;

/// <summary>
/// io_uring cannot be used in this process. The message says why and what a user can do about it.
/// </summary>
public sealed class RingUnavailableException : Exception
{
    internal RingUnavailableException(string message, int errno = 0, Exception? inner = null) : base(message, inner)
    {
        Errno = errno;
    }

    /// <summary>The errno that caused it, or 0 when a required feature is missing.</summary>
    public int Errno { get; }

    internal static RingUnavailableException FromSetupErrno(int errno) => errno switch
    {
        Interop.Errno.EPERM or Interop.Errno.EACCES => new(
            $"io_uring_setup was denied ({Interop.Errno.Describe(errno)}). Either a seccomp profile blocks the io_uring " +
            "system calls (Docker's and containerd's default profiles do: run with a profile that allows io_uring_setup, " +
            "io_uring_enter and io_uring_register), or the sysctl kernel.io_uring_disabled is 1 or 2 (set it to 0, or add " +
            "this process's group to kernel.io_uring_group).", errno),
        Interop.Errno.ENOSYS => new(
            $"This kernel has no io_uring ({Interop.Errno.Describe(errno)}): it is older than Linux 5.1 or was built " +
            "without CONFIG_IO_URING. RingCore needs Linux 6.0 or newer.", errno),
        Interop.Errno.ENOMEM => new(
            $"io_uring_setup ran out of memory ({Interop.Errno.Describe(errno)}); on kernels before 5.12 ring memory is " +
            "charged to RLIMIT_MEMLOCK (raise `ulimit -l`).", errno),
        Interop.Errno.EMFILE or Interop.Errno.ENFILE => new(
            $"io_uring_setup could not get a file descriptor ({Interop.Errno.Describe(errno)}).", errno),
        _ => new($"io_uring_setup failed: {Interop.Errno.Describe(errno)}.", errno),
    };

    internal static RingUnavailableException MissingFeature(string feature, string kernel) => new(
        $"This kernel lacks {feature}, which RingCore needs ({kernel} or newer adds it). Running kernel: {Environment.OSVersion.Version}.");
}
