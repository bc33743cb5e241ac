using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

/// <summary>
/// Faults that tests inject into a running ring thread (set through the internal
/// <see cref="RingCoreTransportOptions.TestHooks"/>). Never set in production: null there, and then nothing of this
/// runs (the ring thread's loop steps are the plain ones).
/// </summary>
internal sealed class RingTestHooks
{
    /// <summary>When non-zero, the next io_uring_enter of ring <see cref="FailEnterOnRing"/> fails with this errno.</summary>
    public volatile int FailEnterWithErrno;

    /// <summary>Index of the ring whose enter <see cref="FailEnterWithErrno"/> fails.</summary>
    public volatile int FailEnterOnRing;

    /// <summary>Runs on the ring thread before each item of posted work, with the item's state; may throw.</summary>
    public Action<object?>? BeforePostedWork;

    /// <summary>
    /// Multishot recvs are armed with IORING_RECVSEND_POLL_FIRST, which makes the kernel lose the reset after a
    /// partial request on a few percent of connections instead of ~2.5 in 10^4: the peer-end poll must catch them all.
    /// </summary>
    public bool MultishotReceivePollFirst;

    /// <summary>The loop steps ring <paramref name="index"/> runs while these hooks are installed.</summary>
    public RingLoopSteps WrapLoopSteps(int index, IoUring ring) => new FaultInjectingSteps(this, index, ring);

    private sealed class FaultInjectingSteps(RingTestHooks hooks, int index, IoUring ring) : RingLoopSteps(ring)
    {
        public override void Enter(uint waitFor, long timeoutNanoseconds)
        {
            if (hooks.FailEnterWithErrno != 0 && hooks.FailEnterOnRing == index)
            {
                int errno = hooks.FailEnterWithErrno;
                hooks.FailEnterWithErrno = 0;
                throw new IOException($"io_uring_enter failed: {Errno.Describe(errno)} (injected by a test)");
            }
            base.Enter(waitFor, timeoutNanoseconds);
        }

        public override void RunPosted(Action<object?> action, object? state)
        {
            hooks.BeforePostedWork?.Invoke(state);
            base.RunPosted(action, state);
        }
    }
}
