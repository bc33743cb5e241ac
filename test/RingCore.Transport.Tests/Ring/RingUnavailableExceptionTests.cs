using RingCore.Transport.Interop;

namespace RingCore.Transport.Tests.Ring;

/// <summary>When io_uring_setup fails, the message tells the user what to change.</summary>
public class RingUnavailableExceptionTests
{
    [Theory]
    [InlineData(Errno.EPERM)]
    [InlineData(Errno.EACCES)]
    public void Denied_setup_points_at_seccomp_and_io_uring_disabled(int errno)
    {
        var ex = RingUnavailableException.FromSetupErrno(errno);

        Assert.Equal(errno, ex.Errno);
        Assert.Contains("seccomp", ex.Message);
        Assert.Contains("io_uring_disabled", ex.Message);
        Assert.Contains($"errno {errno}", ex.Message);
    }

    [Fact]
    public void Missing_syscall_points_at_the_kernel_version()
    {
        var ex = RingUnavailableException.FromSetupErrno(Errno.ENOSYS);

        Assert.Equal(Errno.ENOSYS, ex.Errno);
        Assert.Contains("Linux 5.1", ex.Message);
        Assert.Contains("Linux 6.0 or newer", ex.Message);
        Assert.Contains("CONFIG_IO_URING", ex.Message);
    }

    [Theory]
    [InlineData(Errno.ENOMEM, "RLIMIT_MEMLOCK")]
    [InlineData(Errno.EMFILE, "file descriptor")]
    [InlineData(Errno.EINVAL, "io_uring_setup failed")]
    public void Other_setup_errors_are_described(int errno, string expected)
    {
        var ex = RingUnavailableException.FromSetupErrno(errno);

        Assert.Equal(errno, ex.Errno);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Missing_feature_names_the_feature_the_kernel_that_adds_it_and_the_running_kernel()
    {
        var ex = RingUnavailableException.MissingFeature("provided buffer rings", "Linux 5.19");

        Assert.Equal(0, ex.Errno);
        Assert.Contains("provided buffer rings", ex.Message);
        Assert.Contains("Linux 5.19", ex.Message);
        Assert.Contains(Environment.OSVersion.Version.ToString(), ex.Message);
    }
}
