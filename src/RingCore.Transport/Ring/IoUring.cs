using System.Runtime.CompilerServices;
using RingCore.Transport.Interop;

namespace RingCore.Transport.Ring;

/// <summary>Receives each completion while a ring is reaped.</summary>
internal interface ICqeHandler
{
    void OnCompletion(in IoUringCqe cqe);
}

/// <summary>
/// One io_uring: setup, the mapped SQ/CQ, SQE acquisition, one-enter submission and in-place CQE reaping.
/// Not thread-safe by design: only the thread that created it uses it, which is checked.
/// </summary>
internal sealed unsafe class IoUring : IDisposable
{
    private const int SigSetSize = 8; // _NSIG / 8 on Linux

    private readonly int _ringFd;
    private readonly int _enterFd;
    private readonly uint _enterFlags;
    private readonly int _ownerThreadId;

    // Submission queue: kernel-shared head/tail/flags, plus our local tail of prepared-but-unpublished SQEs.
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint* _sqFlags;
    private readonly uint _sqMask;
    private readonly IoUringSqe* _sqes;
    private uint _sqeTail;
    private readonly SqeBacklog _backlog = new();

    // Completion queue: kernel-shared head/tail, plus the head we have consumed up to but maybe not published.
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly IoUringCqe* _cqes;
    private uint _cqHeadLocal;

    private readonly void* _sqRingPtr;
    private readonly nuint _sqRingSize;
    private readonly void* _cqRingPtr;    // == _sqRingPtr with IORING_FEAT_SINGLE_MMAP
    private readonly nuint _cqRingSize;
    private readonly nuint _sqesSize;
    private bool _disposed;

    private IoUring(int ringFd, in IoUringParams p, bool registerRingFd)
    {
        _ringFd = ringFd;
        SetupFlags = p.Flags;
        Features = p.Features;
        SqEntries = p.SqEntries;
        CqEntries = p.CqEntries;
        _ownerThreadId = Environment.CurrentManagedThreadId;

        try
        {
            _sqRingSize = p.SqOff.Array + p.SqEntries * sizeof(uint);
            _cqRingSize = p.CqOff.Cqes + p.CqEntries * (uint)sizeof(IoUringCqe);
            bool singleMmap = (p.Features & IoUringFeatures.SingleMmap) != 0;
            if (singleMmap)
            {
                _sqRingSize = _cqRingSize = Math.Max(_sqRingSize, _cqRingSize);
            }

            _sqRingPtr = Map(ringFd, _sqRingSize, IoUringMmapOffsets.SqRing);
            _cqRingPtr = singleMmap ? _sqRingPtr : Map(ringFd, _cqRingSize, IoUringMmapOffsets.CqRing);
            _sqesSize = p.SqEntries * (uint)sizeof(IoUringSqe);
            _sqes = (IoUringSqe*)Map(ringFd, _sqesSize, IoUringMmapOffsets.Sqes);

            byte* sq = (byte*)_sqRingPtr;
            _sqHead = (uint*)(sq + p.SqOff.Head);
            _sqTail = (uint*)(sq + p.SqOff.Tail);
            _sqFlags = (uint*)(sq + p.SqOff.Flags);
            _sqMask = *(uint*)(sq + p.SqOff.RingMask);
            // The SQ index array maps slot i to SQE i once and for all, so submitting is a tail store.
            uint* array = (uint*)(sq + p.SqOff.Array);
            for (uint i = 0; i < p.SqEntries; i++)
            {
                array[i] = i;
            }
            _sqeTail = *_sqTail;

            byte* cq = (byte*)_cqRingPtr;
            _cqHead = (uint*)(cq + p.CqOff.Head);
            _cqTail = (uint*)(cq + p.CqOff.Tail);
            _cqMask = *(uint*)(cq + p.CqOff.RingMask);
            _cqes = (IoUringCqe*)(cq + p.CqOff.Cqes);
            _cqHeadLocal = *_cqHead;

            _enterFd = ringFd;
            // The registration belongs to the thread that makes it, which is the only one that ever enters this ring.
            if (registerRingFd && TryRegisterRingFd(ringFd, out int index))
            {
                _enterFd = index;
                _enterFlags = IoUringEnterFlags.RegisteredRing;
                RingFdRegistered = true;
            }

            Opcodes = OpcodeSupport.Probe(ringFd);
        }
        catch
        {
            Unmap();
            Libc.close(ringFd);
            throw;
        }
    }

    /// <summary>Setup flags the kernel accepted.</summary>
    public uint SetupFlags { get; }

    /// <summary>IORING_FEAT_* bits reported by the kernel.</summary>
    public uint Features { get; }

    public uint SqEntries { get; }

    public uint CqEntries { get; }

    public bool RingFdRegistered { get; }

    public OpcodeSupport Opcodes { get; }

    /// <summary>The ring's file descriptor (for tests and diagnostics).</summary>
    public int RingFd => _ringFd;

    /// <summary>Number of io_uring_enter calls made (a diagnostic counter).</summary>
    public long EnterCount { get; private set; }

    /// <summary>Number of SQEs the kernel has consumed from this ring.</summary>
    public long SubmittedCount { get; private set; }

    /// <summary>Number of CQEs reaped.</summary>
    public long CompletedCount { get; private set; }

    /// <summary>Number of times the kernel reported a CQ overflow (completions parked in its overflow list).</summary>
    public long OverflowCount { get; private set; }

    public bool HasSingleIssuer => (SetupFlags & IoUringSetupFlags.SingleIssuer) != 0;

    public bool HasDeferTaskrun => (SetupFlags & IoUringSetupFlags.DeferTaskrun) != 0;

    /// <summary>SQEs prepared but not yet consumed by the kernel.</summary>
    public uint PendingSubmissions => _sqeTail - Volatile.Read(ref *_sqHead);

    /// <summary>True when completions are waiting to be reaped.</summary>
    public bool HasCompletions => Volatile.Read(ref *_cqTail) != _cqHeadLocal;

    /// <summary>
    /// Creates a ring on the calling thread, asking for the best setup and dropping flags one by one while the
    /// kernel answers EINVAL. Throws <see cref="RingUnavailableException"/> when io_uring cannot be had at all.
    /// </summary>
    public static IoUring Create(RingSetupOptions options)
    {
        uint sqEntries = options.SqEntries;
        uint cqEntries = options.CqEntries != 0 ? options.CqEntries : sqEntries * 4;
        foreach (uint flags in SetupFlagLadder(options))
        {
            var p = new IoUringParams { Flags = flags, CqEntries = cqEntries };
            long fd = Libc.syscall(IoUringSyscall.Setup, (nint)sqEntries, (nint)(&p), 0, 0, 0, 0);
            if (fd >= 0)
            {
                return new IoUring((int)fd, p, options.RegisterRingFd);
            }
            int errno = Libc.LastErrno;
            if (errno != Errno.EINVAL)
            {
                throw RingUnavailableException.FromSetupErrno(errno);
            }
        }
        throw RingUnavailableException.MissingFeature("a working io_uring_setup with IORING_SETUP_CQSIZE", "Linux 5.5");
    }

    // Best first; each rung drops one thing an older kernel may reject with EINVAL.
    private static IEnumerable<uint> SetupFlagLadder(RingSetupOptions options)
    {
        const uint baseFlags = IoUringSetupFlags.CqSize | IoUringSetupFlags.Clamp;
        if (options.SingleIssuer)
        {
            yield return baseFlags | IoUringSetupFlags.SubmitAll | IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun; // 6.1
            yield return baseFlags | IoUringSetupFlags.SubmitAll | IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskrun; // 6.0
        }
        yield return baseFlags | IoUringSetupFlags.SubmitAll | IoUringSetupFlags.CoopTaskrun; // 5.19
        yield return baseFlags | IoUringSetupFlags.SubmitAll; // 5.18
        yield return baseFlags;
    }

    private static bool TryRegisterRingFd(int ringFd, out int index)
    {
        var update = new IoUringRsrcUpdate { Offset = uint.MaxValue, Data = (ulong)ringFd };
        long rc = Libc.syscall(IoUringSyscall.Register, ringFd, (nint)IoUringRegisterOp.RegisterRingFds, (nint)(&update), 1, 0, 0);
        index = (int)update.Offset;
        return rc == 1;
    }

    private static void* Map(int fd, nuint size, long offset)
    {
        void* p = Libc.mmap(null, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, offset);
        if (p == Libc.MAP_FAILED)
        {
            throw new RingUnavailableException($"mmap of the io_uring (offset 0x{offset:x}) failed: {Errno.Describe(Libc.LastErrno)}", Libc.LastErrno);
        }
        return p;
    }

    /// <summary>
    /// Returns the next free SQE, cleared, for the caller to fill in place. Never enters the kernel: when the SQ is
    /// full (or earlier entries are already waiting), the entry is taken from the ring's backlog instead and moves
    /// into the SQ at the next <see cref="SubmitAndWait"/>, in the order it was prepared. The reference is valid
    /// until the next call of this method.
    /// </summary>
    public ref IoUringSqe GetSqe()
    {
        CheckOwner();
        if (_backlog.Count == 0 && _sqeTail - Volatile.Read(ref *_sqHead) < SqEntries)
        {
            ref IoUringSqe sqe = ref _sqes[_sqeTail & _sqMask];
            sqe = default;
            _sqeTail++;
            return ref sqe;
        }
        return ref _backlog.Add();
    }

    /// <summary>SQEs prepared while the SQ was full, waiting for the next enter.</summary>
    public int BacklogCount => _backlog.Count;

    /// <summary>Moves backlogged SQEs into the SQ while it has room, oldest first.</summary>
    private void MoveBacklogIntoSq()
    {
        while (_backlog.Count > 0 && _sqeTail - Volatile.Read(ref *_sqHead) < SqEntries)
        {
            _sqes[_sqeTail & _sqMask] = _backlog.Take();
            _sqeTail++;
        }
    }

    /// <summary>Submits prepared SQEs without waiting (one io_uring_enter).</summary>
    public int Submit() => SubmitAndWait(0, getEvents: false);

    /// <summary>
    /// One io_uring_enter: submits everything prepared and, when <paramref name="waitFor"/> &gt; 0, sleeps until
    /// that many completions are ready or, when <paramref name="timeoutNanoseconds"/> &gt; 0, until that much time
    /// has passed (whichever comes first; a timeout is not an error). Retries EINTR; on EBUSY/EAGAIN (CQ overflow
    /// backlog or no memory) it publishes what was reaped and returns, so the caller reaps before trying again.
    /// </summary>
    public int SubmitAndWait(uint waitFor, bool getEvents = true, long timeoutNanoseconds = 0)
    {
        CheckOwner();
        // Everything the kernel reads on entry is published first: the CQ slots we have consumed (or a full CQ
        // would park completions in the overflow list) and every prepared SQE, backlog included as room allows.
        PublishCqHead();
        MoveBacklogIntoSq();
        Volatile.Write(ref *_sqTail, _sqeTail);
        if ((Volatile.Read(ref *_sqFlags) & IoUringSqRingFlags.CqOverflow) != 0)
        {
            OverflowCount++;
            getEvents = true; // GETEVENTS flushes the kernel's overflow list into the CQ
        }
        uint flags = _enterFlags | (getEvents || waitFor > 0 ? IoUringEnterFlags.GetEvents : 0);

        // A bounded wait passes its timeout through IORING_ENTER_EXT_ARG (FEAT_EXT_ARG, Linux 5.11).
        KernelTimespec timeout = default;
        IoUringGeteventsArg extArg = default;
        nint argPointer = 0;
        nint argSize = SigSetSize;
        if (timeoutNanoseconds > 0 && waitFor > 0 && SupportsWaitTimeout)
        {
            timeout.Seconds = timeoutNanoseconds / 1_000_000_000;
            timeout.Nanoseconds = timeoutNanoseconds % 1_000_000_000;
            extArg.Timeout = (ulong)&timeout;
            argPointer = (nint)(&extArg);
            argSize = sizeof(IoUringGeteventsArg);
            flags |= IoUringEnterFlags.ExtArg;
        }

        while (true)
        {
            uint toSubmit = _sqeTail - Volatile.Read(ref *_sqHead);
            EnterCount++;
            long rc = Libc.syscall(IoUringSyscall.Enter, _enterFd, (nint)toSubmit, (nint)waitFor, (nint)flags, argPointer, argSize);
            if (rc >= 0)
            {
                SubmittedCount += rc;
                return (int)rc;
            }
            int errno = Libc.LastErrno;
            switch (errno)
            {
                case Errno.EINTR:
                    continue;
                case Errno.ETIME:
                    return 0; // the bounded wait ran out; nothing was submitted in this call
                case Errno.EBUSY:
                case Errno.EAGAIN:
                    PublishCqHead();
                    return 0;
                case Errno.EEXIST:
                    throw new InvalidOperationException(
                        "io_uring_enter was refused with EEXIST: this ring was set up with IORING_SETUP_SINGLE_ISSUER and is being " +
                        "used from a thread other than the one that created it.");
                default:
                    throw new IOException($"io_uring_enter failed: {Errno.Describe(errno)}");
            }
        }
    }

    /// <summary>Whether <see cref="SubmitAndWait"/> can bound its wait with a timeout (IORING_FEAT_EXT_ARG).</summary>
    public bool SupportsWaitTimeout => (Features & IoUringFeatures.ExtArg) != 0;

    /// <summary>
    /// Calls <paramref name="handler"/> for the CQEs that are ready now, in place, at most
    /// <paramref name="maxCompletions"/> of them, and publishes the new CQ head once at the end. Bounded by
    /// construction: CQEs that arrive while the batch runs wait for the next call, so a handler can never feed the
    /// batch it runs in. Handlers must not enter the kernel (they only prepare SQEs).
    /// </summary>
    public int ReapCompletions<THandler>(THandler handler, int maxCompletions = int.MaxValue) where THandler : ICqeHandler
    {
        CheckOwner();
        uint head = _cqHeadLocal;
        uint ready = Volatile.Read(ref *_cqTail) - head;
        uint count = Math.Min(ready, (uint)Math.Max(0, maxCompletions));
        uint end = head + count;
        try
        {
            while (head != end)
            {
                IoUringCqe cqe = _cqes[head & _cqMask];
                head++;
                _cqHeadLocal = head; // consumed before its handler runs: a handler that throws cannot see it twice
                handler.OnCompletion(in cqe);
            }
        }
        finally
        {
            PublishCqHead();
            CompletedCount += head - (end - count);
        }
        return (int)count;
    }

    private void PublishCqHead() => Volatile.Write(ref *_cqHead, _cqHeadLocal);

    /// <summary>Calls io_uring_register on this ring.</summary>
    public int Register(uint opcode, void* arg, uint count)
    {
        long rc = Libc.syscall(IoUringSyscall.Register, _ringFd, (nint)opcode, (nint)arg, (nint)count, 0, 0);
        return rc < 0 ? -Libc.LastErrno : (int)rc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckOwner()
    {
        if (Environment.CurrentManagedThreadId != _ownerThreadId)
        {
            ThrowWrongThread();
        }
    }

    private void ThrowWrongThread() => throw new InvalidOperationException(
        $"This io_uring belongs to managed thread {_ownerThreadId} and was used from thread {Environment.CurrentManagedThreadId}. " +
        "A ring is only ever touched by its own ring thread; post work to that thread instead.");

    private void Unmap()
    {
        if (_sqes != null)
        {
            Libc.munmap(_sqes, _sqesSize);
        }
        if (_cqRingPtr != null && _cqRingPtr != _sqRingPtr)
        {
            Libc.munmap(_cqRingPtr, _cqRingSize);
        }
        if (_sqRingPtr != null)
        {
            Libc.munmap(_sqRingPtr, _sqRingSize);
        }
    }

    /// <summary>Unmaps the rings and closes the ring fd; the kernel cancels whatever is still in flight.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        // A registered ring fd is a reference held in the creating thread's table (16 slots per thread): without
        // giving the slot back, the kernel keeps the ring alive until that thread exits and the thread's 17th ring
        // gets no registration. Only the owner thread can do it; from another thread the slot lives until it exits.
        if (RingFdRegistered && Environment.CurrentManagedThreadId == _ownerThreadId)
        {
            var update = new IoUringRsrcUpdate { Offset = (uint)_enterFd };
            Libc.syscall(IoUringSyscall.Register, _ringFd, (nint)IoUringRegisterOp.UnregisterRingFds, (nint)(&update), 1, 0, 0);
        }
        Unmap();
        Libc.close(_ringFd);
    }
}
