using RingCore.Transport.Interop;

namespace RingCore.Transport.Ring;

/// <summary>
/// A provided-buffer ring (IORING_REGISTER_PBUF_RING): a group of equal-sized native buffers the kernel picks
/// from for buffer-select receives. The CQE names the buffer it used; the owner copies the bytes out and hands
/// the buffer back. Memory is anonymous mmap, so it never moves and needs no pinning. Only the ring's thread may
/// use it.
/// </summary>
/// <remarks>
/// Registered with incremental consumption (IOU_PBUF_RING_INC, Linux 6.12) when the kernel has it: a receive
/// then takes only the bytes it needs from the head buffer, so one 16 KiB buffer serves a hundred small requests
/// instead of one, and a burst of thousands of requests fits in a few hundred buffers. The kernel says with
/// IORING_CQE_F_BUF_MORE that it keeps using a buffer; this class mirrors where the kernel is in each buffer and
/// hands a buffer back only once the kernel has let go of it. Older kernels get whole-buffer consumption.
/// </remarks>
internal sealed unsafe class ProvidedBufferRing : IDisposable
{
    private readonly IoUring _ring;
    private readonly IoUringBuf* _entries;
    private readonly nuint _entriesSize;
    private readonly byte* _buffers;
    private readonly nuint _buffersSize;
    private readonly ushort* _tail;
    private readonly ushort _mask;
    private readonly int[] _consumed;   // incremental mode: bytes of each buffer the kernel has already filled
    private ushort _localTail;
    private bool _registered;

    private ProvidedBufferRing(IoUring ring, ushort groupId, int entries, int bufferSize)
    {
        _ring = ring;
        GroupId = groupId;
        EntryCount = entries;
        BufferSize = bufferSize;
        _mask = (ushort)(entries - 1);
        _consumed = new int[entries];

        _entriesSize = RoundUpToPage((nuint)(entries * sizeof(IoUringBuf)));
        _buffersSize = RoundUpToPage((nuint)entries * (nuint)bufferSize);
        _entries = (IoUringBuf*)MapAnonymous(_entriesSize);
        try
        {
            _buffers = (byte*)MapAnonymous(_buffersSize);
        }
        catch
        {
            Libc.munmap(_entries, _entriesSize);
            throw;
        }
        // struct io_uring_buf_ring overlays its 16-bit tail on the resv field of entry 0 (byte offset 14).
        _tail = (ushort*)((byte*)_entries + 14);
    }

    public ushort GroupId { get; }

    public int EntryCount { get; }

    public int BufferSize { get; }

    /// <summary>Start of the entry array (for tests that check the mapping goes away).</summary>
    internal nint EntriesAddress => (nint)_entries;

    internal nint BuffersAddress => (nint)_buffers;

    /// <summary>Buffers handed to us in CQEs and not yet recycled.</summary>
    public int Outstanding { get; private set; }

    /// <summary>Whether receives consume buffers incrementally (IOU_PBUF_RING_INC).</summary>
    public bool Incremental { get; private set; }

    /// <summary>
    /// Maps the memory, registers it as buffer group <paramref name="groupId"/> and hands every buffer to the kernel.
    /// With <paramref name="incremental"/> it asks for incremental consumption first and, when the kernel does not
    /// know it (EINVAL before Linux 6.12), registers whole-buffer consumption instead.
    /// </summary>
    public static ProvidedBufferRing Register(IoUring ring, ushort groupId, int entries, int bufferSize, bool incremental = false)
    {
        if (entries < 1 || entries > 32768 || (entries & (entries - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "A buffer ring holds a power of two entries, at most 32768.");
        }
        if (bufferSize < 64)
        {
            throw new ArgumentOutOfRangeException(nameof(bufferSize), bufferSize, "Buffers must be at least 64 bytes.");
        }

        var bufferRing = new ProvidedBufferRing(ring, groupId, entries, bufferSize);
        var reg = new IoUringBufReg { RingAddr = (ulong)bufferRing._entries, RingEntries = (uint)entries, Bgid = groupId };
        int rc = -Errno.EINVAL;
        if (incremental)
        {
            reg.Flags = IoUringPbufRingFlags.Incremental;
            rc = ring.Register(IoUringRegisterOp.RegisterPbufRing, &reg, 1);
            bufferRing.Incremental = rc >= 0;
        }
        if (rc == -Errno.EINVAL)
        {
            reg.Flags = 0;
            rc = ring.Register(IoUringRegisterOp.RegisterPbufRing, &reg, 1);
        }
        if (rc < 0)
        {
            bufferRing.Unmap();
            if (rc == -Errno.EINVAL)
            {
                throw RingUnavailableException.MissingFeature("provided buffer rings (IORING_REGISTER_PBUF_RING)", "Linux 5.19");
            }
            throw new IOException($"IORING_REGISTER_PBUF_RING failed: {Errno.Describe(-rc)}");
        }
        bufferRing._registered = true;
        for (int bid = 0; bid < entries; bid++)
        {
            bufferRing.Add((ushort)bid);
        }
        bufferRing.Publish();
        return bufferRing;
    }

    /// <summary>The bytes the kernel put in buffer <paramref name="bufferId"/> (for whole-buffer consumption).</summary>
    public ReadOnlySpan<byte> GetBuffer(ushort bufferId, int length) =>
        new(_buffers + (nuint)bufferId * (nuint)BufferSize, length);

    /// <summary>Buffer id carried in a CQE's flags (valid when IORING_CQE_F_BUFFER is set).</summary>
    public static ushort BufferIdOf(uint cqeFlags) => (ushort)(cqeFlags >> IoUringCqeFlags.BufferShift);

    /// <summary>
    /// The bytes a completion with IORING_CQE_F_BUFFER delivered (<paramref name="length"/> may be 0 or negative:
    /// then nothing). Copy them out before the next <see cref="Publish"/>, then call <see cref="Release"/>.
    /// </summary>
    public ReadOnlySpan<byte> Received(uint cqeFlags, int length)
    {
        ushort bufferId = BufferIdOf(cqeFlags);
        int offset = Incremental ? _consumed[bufferId] : 0;
        return length <= 0 ? default : new(_buffers + (nuint)bufferId * (nuint)BufferSize + (nuint)offset, length);
    }

    /// <summary>
    /// Accounts for a completion with IORING_CQE_F_BUFFER: the buffer goes back to the kernel unless the kernel
    /// said it keeps filling it (IORING_CQE_F_BUF_MORE, incremental mode only).
    /// </summary>
    public void Release(uint cqeFlags, int length)
    {
        ushort bufferId = BufferIdOf(cqeFlags);
        if (Incremental && (cqeFlags & IoUringCqeFlags.BufMore) != 0)
        {
            _consumed[bufferId] += Math.Max(0, length);
            return;
        }
        _consumed[bufferId] = 0;
        Add(bufferId);
    }

    /// <summary>Marks a buffer as taken out by a CQE; pair with <see cref="Recycle"/> (whole-buffer use, tests).</summary>
    public void OnTaken() => Outstanding++;

    /// <summary>Hands a buffer back; the kernel sees it after the next <see cref="Publish"/>.</summary>
    public void Recycle(ushort bufferId)
    {
        Outstanding--;
        Add(bufferId);
    }

    private void Add(ushort bufferId)
    {
        ref IoUringBuf entry = ref _entries[_localTail & _mask];
        entry.Addr = (ulong)(_buffers + (nuint)bufferId * (nuint)BufferSize);
        entry.Len = (uint)BufferSize;
        entry.Bid = bufferId;
        _localTail++;
    }

    /// <summary>Release-stores the tail so the kernel sees every buffer added since the last publish.</summary>
    public void Publish() => Volatile.Write(ref *_tail, _localTail);

    private static nuint RoundUpToPage(nuint size)
    {
        nuint page = (nuint)Environment.SystemPageSize;
        return (size + page - 1) & ~(page - 1);
    }

    private static void* MapAnonymous(nuint size)
    {
        void* p = Libc.mmap(null, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (p == Libc.MAP_FAILED)
        {
            throw new OutOfMemoryException($"mmap of {size} bytes for a buffer ring failed: {Errno.Describe(Libc.LastErrno)}");
        }
        return p;
    }

    private void Unmap()
    {
        Libc.munmap(_buffers, _buffersSize);
        Libc.munmap(_entries, _entriesSize);
    }

    /// <summary>Unregisters the group (on the ring's thread) and unmaps its memory.</summary>
    public void Dispose()
    {
        if (_registered)
        {
            _registered = false;
            var reg = new IoUringBufReg { Bgid = GroupId };
            _ring.Register(IoUringRegisterOp.UnregisterPbufRing, &reg, 1);
            Unmap();
        }
    }
}
