using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Threading;

/// <summary>
/// The ring threads of one transport factory. They start with the first listener and stop when the last
/// listener is disposed, so a host that stops leaves no thread, ring or fd behind.
/// </summary>
internal sealed class RingThreadGroup
{
    /// <summary>Longest a stop waits for the ring threads (one held by application code may never come back).</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan StopPollInterval = TimeSpan.FromMilliseconds(100);
    private readonly RingCoreTransportOptions _options;
    private readonly int _ringCount;
    private readonly RingCoreLog _log;
    private readonly TransportMetrics? _metrics;
    private readonly Lock _lock = new();
    private RingThread[] _threads = [];
    private RingStallWatchdog? _watchdog;
    private int _users;
    private int _nextForHandOff;

    public RingThreadGroup(RingCoreTransportOptions options, RingCoreLog log, TransportMetrics? metrics, int ringCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ringCount, 1);
        _options = options;
        _ringCount = ringCount;
        _log = log;
        _metrics = metrics;
    }

    public IReadOnlyList<RingThread> Threads => _threads;

    /// <summary>Starts the threads if none run. Throws <see cref="RingUnavailableException"/> when io_uring cannot be had.</summary>
    public void Acquire()
    {
        lock (_lock)
        {
            if (_users++ == 0)
            {
                try
                {
                    _threads = StartThreads();
                    _watchdog = new RingStallWatchdog(_threads, _log);
                    try
                    {
                        _log.RingsStarted(_threads.Length, NameRings(), Environment.OSVersion.Version.ToString(), Describe());
                    }
                    catch
                    {
                        // A logging provider that throws must not leave started rings without a user.
                    }
                }
                catch
                {
                    _users--;
                    throw;
                }
            }
        }
    }

    /// <summary>Stops the threads when the last user releases them.</summary>
    public async Task ReleaseAsync()
    {
        RingThread[] stopping;
        lock (_lock)
        {
            if (--_users > 0)
            {
                return;
            }
            stopping = _threads;
            _threads = [];
            _watchdog?.Dispose();
            _watchdog = null;
        }
        await StopAsync(stopping).ConfigureAwait(false);
    }

    /// <summary>The next ring thread in round-robin order, for connections accepted by a single acceptor.</summary>
    public RingThread NextForHandOff()
    {
        RingThread[] threads = _threads;
        // A failed ring takes no new connections; with every ring failed the last one is returned, and the
        // connection handed to it is closed at once.
        for (int tries = 0; tries < threads.Length; tries++)
        {
            RingThread candidate = threads[(int)((uint)Interlocked.Increment(ref _nextForHandOff) % (uint)threads.Length)];
            if (candidate.IsAlive)
            {
                return candidate;
            }
        }
        return threads[0];
    }

    private RingThread[] StartThreads()
    {
        var setup = new RingSetupOptions
        {
            SqEntries = (uint)_options.SubmissionQueueSize,
            CqEntries = (uint)_options.CompletionQueueSize,
            SingleIssuer = _options.UseSingleIssuer,
            RegisterRingFd = _options.RegisterRingFd,
        };
        var threads = new List<RingThread>(_ringCount);
        try
        {
            for (int i = 0; i < _ringCount; i++)
            {
                threads.Add(RingThread.Start(new RingThreadSettings
                {
                    Index = i,
                    Ring = setup,
                    BufferRingEntries = _options.BufferRingSize,
                    BufferSize = _options.BufferSize,
                    IncrementalBuffers = _options.IncrementalBuffers,
                    TestHooks = _options.TestHooks,
                    Metrics = _metrics,
                    CompletionBatchWaitNanoseconds = (long)(_options.CompletionBatchWait.Ticks * (1_000_000_000 / TimeSpan.TicksPerSecond)),
                    Cpu = _options.PinRingThreadsToCores ? i % Environment.ProcessorCount : null,
                }, _log.Logger));
            }
        }
        catch
        {
            StopAsync(threads.ToArray()).GetAwaiter().GetResult();
            throw;
        }
        return threads.ToArray();
    }

    private async Task StopAsync(RingThread[] threads)
    {
        Task all = Task.WhenAll(threads.Select(t => t.StopAsync()));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        // Bounded, and shorter still when every ring that has not stopped is held by application code (UnsafeInline
        // with a handler that blocks): such a ring stops when the handler returns, and waiting holds up the host.
        while (await Task.WhenAny(all, Task.Delay(StopPollInterval)).ConfigureAwait(false) != all)
        {
            RingThread[] running = threads.Where(t => !t.Stopped.IsCompleted).ToArray();
            long now = Environment.TickCount64;
            bool allHeldByApplication = running.Length > 0 && waited.Elapsed > StopPollInterval &&
                running.All(t => t.MillisecondsInApplicationCode(now) > StopPollInterval.TotalMilliseconds);
            if (allHeldByApplication || (running.Length > 0 && waited.Elapsed > StopTimeout))
            {
                foreach (RingThread thread in running)
                {
                    _log.RingStopTimedOut(thread.Index, thread.OwnerCount, (int)Math.Ceiling(waited.Elapsed.TotalSeconds), thread.DescribeOwners());
                }
                return;
            }
        }
        // Stopped completes in the thread's last lines; let the threads really be gone before saying so.
        foreach (RingThread thread in threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>The running rings by name: "ring 0" or "rings 0-3" (their threads are named "RingCore ring N").</summary>
    public string NameRings()
    {
        RingThread[] threads = _threads;
        return threads.Length switch
        {
            0 => "no rings",
            1 => $"ring {threads[0].Index}",
            _ => $"rings {threads[0].Index}-{threads[^1].Index}",
        };
    }

    /// <summary>One line saying what the rings got from the kernel.</summary>
    public string Describe()
    {
        RingThread[] threads = _threads;
        if (threads.Length == 0)
        {
            return "no rings";
        }
        IoUring ring = threads[0].Ring; // these properties are fixed at setup; reading them from here is safe
        var flags = new List<string>();
        if (ring.HasSingleIssuer) flags.Add("SINGLE_ISSUER");
        if (ring.HasDeferTaskrun) flags.Add("DEFER_TASKRUN");
        if ((ring.SetupFlags & IoUringSetupFlags.CoopTaskrun) != 0) flags.Add("COOP_TASKRUN");
        if ((ring.SetupFlags & IoUringSetupFlags.SubmitAll) != 0) flags.Add("SUBMIT_ALL");
        flags.Add("CQSIZE");
        return $"setup flags {string.Join('|', flags)}; SQ {ring.SqEntries}, CQ {ring.CqEntries}; " +
               $"registered ring fd {(ring.RingFdRegistered ? "yes" : "no")}; " +
               $"multishot accept, multishot recv with a peer-end poll; provided buffers {_options.BufferRingSize}×{_options.BufferSize} B per ring " +
               $"({(threads[0].Buffers.Incremental ? "incremental consumption" : "whole-buffer consumption")}); " +
               $"send zero-copy {(ring.Opcodes.IsSupported(IoUringOpcode.SendZc) ? "available (unused)" : "unavailable")}";
    }
}
