using System.Runtime.InteropServices;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;

namespace RingCore.Transport.Tests.Ring;

/// <summary>
/// Disposing rings and buffer rings gives back every fd and mapping. These tests count what /proc/self shows, so
/// they run in a collection that nothing else runs alongside.
/// </summary>
[Collection(ProcessResourceCollection.Name)]
public unsafe class RingDisposeTests
{
    [Fact]
    public void Disposed_ring_closes_its_fd_and_unmaps_its_queues()
    {
        int fdsBefore = ProcSelf.CountIoUringFds();
        int mapsBefore = ProcSelf.CountIoUringMappings();

        var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        int ringFd = ring.RingFd;
        SqePrep.PrepNop(ref ring.GetSqe(), 1);
        ring.SubmitAndReapOne();
        Assert.Equal(fdsBefore + 1, ProcSelf.CountIoUringFds());
        Assert.True(ProcSelf.CountIoUringMappings() > mapsBefore, "the SQ/CQ rings should show up in /proc/self/maps");

        ring.Dispose();

        Assert.False(ProcSelf.IsIoUringFd(ringFd));
        Assert.Equal(fdsBefore, ProcSelf.CountIoUringFds());
        Assert.Equal(mapsBefore, ProcSelf.CountIoUringMappings());
        ring.Dispose(); // idempotent
        Assert.Equal(fdsBefore, ProcSelf.CountIoUringFds());
    }

    [Fact]
    public void Disposed_buffer_ring_unmaps_its_entries_and_buffers()
    {
        using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
        using var sockets = FdPair.UnixStreamSocketPair();
        var buffers = ProvidedBufferRing.Register(ring, groupId: 1, entries: 8, bufferSize: 4096);
        nint entries = buffers.EntriesAddress;
        nint data = buffers.BuffersAddress;
        nint lastBuffer = data + 7 * 4096;

        FdPair.WriteAll(sockets.Second, "ping"u8);
        SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, 1, multishot: false, 1);
        Assert.Equal(4, ring.SubmitAndReapOne().Res);
        var entriesMapping = ProcSelf.MappingContaining(entries);
        var dataMapping = ProcSelf.MappingContaining(data);
        var lastBufferMapping = ProcSelf.MappingContaining(lastBuffer);
        Assert.NotNull(entriesMapping);
        Assert.NotNull(dataMapping);
        Assert.NotNull(lastBufferMapping);

        buffers.Dispose();

        // Our mappings are gone. The address itself may be mapped again already: another thread of the runtime (the
        // JIT, the GC, a new thread's stack) can mmap the freed range between munmap and this read, which shows as a
        // mapping with other bounds (the kernel merges it with its neighbours), so the bounds are compared.
        Assert.NotEqual(entriesMapping, ProcSelf.MappingContaining(entries));
        Assert.NotEqual(dataMapping, ProcSelf.MappingContaining(data));
        Assert.NotEqual(lastBufferMapping, ProcSelf.MappingContaining(lastBuffer));
        buffers.Dispose(); // idempotent
    }

    [Fact]
    public void Creating_using_and_disposing_many_rings_returns_to_baseline()
    {
        int fdsBefore = ProcSelf.CountIoUringFds();
        int mapsBefore = ProcSelf.CountIoUringMappings();

        for (int i = 0; i < 20; i++)
        {
            using var ring = IoUring.Create(new RingSetupOptions { SqEntries = 16 });
            using var buffers = ProvidedBufferRing.Register(ring, groupId: 0, entries: 16, bufferSize: 1024);
            using var sockets = FdPair.UnixStreamSocketPair();
            FdPair.WriteAll(sockets.Second, "x"u8);
            SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, 0, multishot: true, 1);
            SqePrep.PrepNop(ref ring.GetSqe(), 2);
            Assert.Equal(2, ring.SubmitAndReap(2).Count);
        }

        Assert.Equal(fdsBefore, ProcSelf.CountIoUringFds());
        Assert.Equal(mapsBefore, ProcSelf.CountIoUringMappings());
    }

    [Fact]
    public void Ring_disposed_with_operations_still_in_flight_leaves_nothing_behind()
    {
        int fdsBefore = ProcSelf.CountIoUringFds();
        int mapsBefore = ProcSelf.CountIoUringMappings();
        using var pipe = FdPair.Pipe();
        using var sockets = FdPair.UnixStreamSocketPair();
        // Native, and never written: nothing is ever sent down the pipe, so the kernel cannot touch it after we free it.
        void* readBuffer = NativeMemory.Alloc(64);
        try
        {
            var ring = IoUring.Create(new RingSetupOptions { SqEntries = 8 });
            var buffers = ProvidedBufferRing.Register(ring, groupId: 0, entries: 4, bufferSize: 256);
            SqePrep.PrepRead(ref ring.GetSqe(), pipe.First, readBuffer, 64, 0, 1);
            SqePrep.PrepRecvBufferSelect(ref ring.GetSqe(), sockets.First, 0, multishot: true, 2);
            Assert.Equal(2, ring.Submit());
            Assert.False(ring.HasCompletions);

            buffers.Dispose();
            ring.Dispose();
        }
        finally
        {
            NativeMemory.Free(readBuffer);
        }

        Assert.Equal(fdsBefore, ProcSelf.CountIoUringFds());
        Assert.Equal(mapsBefore, ProcSelf.CountIoUringMappings());
    }
}
