using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

/// <summary>
/// The two steps of a ring thread's loop that a test may want to break: entering the ring and running one item of
/// posted work. Production runs them as they are; a test's <see cref="RingTestHooks"/> installs a subclass that
/// injects faults, so the loop itself carries no test-only checks.
/// </summary>
internal class RingLoopSteps(IoUring ring)
{
    public static RingLoopSteps Direct(IoUring ring) => new(ring);

    /// <summary>One io_uring_enter: submit, and wait for <paramref name="waitFor"/> completions or the timeout.</summary>
    public virtual void Enter(uint waitFor, long timeoutNanoseconds) => ring.SubmitAndWait(waitFor, timeoutNanoseconds: timeoutNanoseconds);

    /// <summary>Runs one item of work posted to the ring thread.</summary>
    public virtual void RunPosted(Action<object?> action, object? state) => action(state);
}
