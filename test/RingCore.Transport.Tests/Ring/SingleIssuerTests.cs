using System.Runtime.ExceptionServices;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// A ring belongs to the thread that created it: the managed check refuses other threads with a clear message,
/// and underneath it the kernel (IORING_SETUP_SINGLE_ISSUER) refuses them with EEXIST.
/// </summary>
public class SingleIssuerTests
{
    [Fact]
    public void GetSqe_from_another_thread_throws_a_clear_InvalidOperationException()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });

        var ex = RunOnOtherThread(() => Assert.Throws<InvalidOperationException>(() => { ring.GetSqe(); }));

        Assert.Contains("belongs to managed thread", ex.Message);
        Assert.Contains("ring thread", ex.Message);
        AssertStillUsable(ring);
    }

    [Fact]
    public void SubmitAndWait_from_another_thread_throws_instead_of_hanging()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });

        var ex = RunOnOtherThread(() => Assert.Throws<InvalidOperationException>(() => ring.SubmitAndWait(1)));

        Assert.Contains("belongs to managed thread", ex.Message);
        AssertStillUsable(ring);
    }

    [Fact]
    public void ReapCompletions_from_another_thread_throws()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });

        RunOnOtherThread(() => Assert.Throws<InvalidOperationException>(() => ring.ReapCompletions(new CqeCollector())));

        AssertStillUsable(ring);
    }

    [Theory]
    [InlineData(1u, 0u)]                          // submission: io_uring_add_tctx_node refuses another task
    [InlineData(0u, IoUringEnterFlags.GetEvents)] // waiting: DEFER_TASKRUN runs task work only for the submitter
    public void Kernel_refuses_io_uring_enter_from_another_thread_with_EEXIST(uint toSubmit, uint flags)
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        Assert.True(ring.HasSingleIssuer && ring.HasDeferTaskrun);
        int ringFd = ring.RingFd; // the real fd: registered ring indexes are per thread

        (long rc, int errno) = RunOnOtherThread(() =>
        {
            long result = Libc.syscall(IoUringSyscall.Enter, ringFd, (nint)toSubmit, 0, (nint)flags, 0, 0);
            return (result, Libc.LastErrno);
        });

        Assert.Equal(-1, rc);
        Assert.Equal(Errno.EEXIST, errno);
        AssertStillUsable(ring);
    }

    private static void AssertStillUsable(IoUring ring)
    {
        SqePrep.PrepNop(ref ring.GetSqe(), 77);
        Assert.Equal(77ul, ring.SubmitAndReapOne().UserData);
    }

    /// <summary>Runs <paramref name="work"/> on a new thread, waits for it and returns its result (or rethrows).</summary>
    private static T RunOnOtherThread<T>(Func<T> work)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = work();
            }
            catch (Exception ex)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }
        });
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }
}
