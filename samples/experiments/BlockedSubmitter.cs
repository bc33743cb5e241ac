// Experiment, not product code: does an io_uring request complete while the thread that submitted it is blocked
// in application code? That decides whether a ring's loop can move to a new thread when a handler blocks
// (docs/design.md, "What the hop costs"). Thread A submits one IORING_OP_RECV on a socketpair and blocks for 3 s;
// the main thread writes 5 bytes and watches the CQ tail (shared memory, no syscall), then sends A one signal.
//   dotnet run samples/experiments/BlockedSubmitter.cs -- RING BLOCK
//   RING: coop  (IORING_SETUP_COOP_TASKRUN: completion work is queued to A with TWA_SIGNAL_NO_IPI)
//         plain (no flags: TWA_SIGNAL)
//         defer (SINGLE_ISSUER | DEFER_TASKRUN: completion work runs only inside A's io_uring_enter)
//   BLOCK: mres (ManualResetEventSlim.Wait, a futex) | sleep (Thread.Sleep) | spin (busy in user mode)
// Constants: io_uring ones from include/uapi/linux/io_uring.h (6.1): COOP_TASKRUN 1<<8, SINGLE_ISSUER 1<<12,
// DEFER_TASKRUN 1<<13, IORING_OP_RECV 27, IORING_OFF_SQES 0x10000000, struct io_uring_params 120 bytes (sq_off at
// 40, cq_off at 80), SQE 64 bytes, CQE 16 bytes; x86-64 syscall numbers from arch/x86/entry/syscalls/syscall_64.tbl:
// io_uring_setup 425, io_uring_enter 426, gettid 186, tgkill 234; SIGWINCH 28.
#:property AllowUnsafeBlocks=true
using System.Diagnostics;
using System.Runtime.InteropServices;

unsafe
{
    string mode = args.Length > 0 ? args[0] : "coop";
    string block = args.Length > 1 ? args[1] : "mres";
    uint flags = mode switch { "coop" => (1u << 8), "plain" => 0u, "defer" => (1u << 12) | (1u << 13), _ => throw new ArgumentException(mode) };
    using var reg = PosixSignalRegistration.Create((PosixSignal)28 /* raw SIGWINCH */, c => c.Cancel = true);

    byte* p = stackalloc byte[120];
    new Span<byte>(p, 120).Clear();
    *(uint*)(p + 8) = flags;
    int ringFd = (int)N.syscall(425, 8, (nint)p);
    if (ringFd < 0) { Console.WriteLine($"setup failed {Marshal.GetLastPInvokeError()}"); return; }
    uint sqEntries = *(uint*)p, cqEntries = *(uint*)(p + 4);
    uint* sqo = (uint*)(p + 40); uint* cqo = (uint*)(p + 80);
    nint ringSize = (nint)Math.Max(sqo[6] + sqEntries * 4, cqo[5] + cqEntries * 16);
    byte* ring = (byte*)N.mmap(0, ringSize, 3, 0x8001 /* SHARED|POPULATE */, ringFd, 0);
    byte* sqes = (byte*)N.mmap(0, (nint)(sqEntries * 64), 3, 0x8001, ringFd, 0x10000000);
    int* sv = stackalloc int[2];
    N.socketpair(1, 1, 0, sv);
    byte[] buf = new byte[64];
    var bufHandle = GCHandle.Alloc(buf, GCHandleType.Pinned);

    int tidA = 0;
    var armed = new ManualResetEventSlim();
    var never = new ManualResetEventSlim();
    var blockedFor = new Stopwatch();
    var a = new Thread(() =>
    {
        tidA = (int)N.syscall(186);
        byte* sqe = sqes;
        new Span<byte>(sqe, 64).Clear();
        sqe[0] = 27; // IORING_OP_RECV
        *(int*)(sqe + 4) = sv[0];
        *(ulong*)(sqe + 16) = (ulong)bufHandle.AddrOfPinnedObject();
        *(uint*)(sqe + 24) = 64;
        *(ulong*)(sqe + 32) = 42;
        uint* array = (uint*)(ring + sqo[6]);
        uint* sqTail = (uint*)(ring + sqo[1]);
        array[*sqTail & (sqEntries - 1)] = 0;
        Volatile.Write(ref *sqTail, *sqTail + 1);
        long r = N.syscall(426, ringFd, 1, 0, 0, 0, 0);
        Console.WriteLine($"A (tid {tidA}) submitted: {r}");
        armed.Set();
        blockedFor.Start();
        if (block == "mres") never.Wait(3000);
        else if (block == "sleep") Thread.Sleep(3000);
        else { var w = Stopwatch.StartNew(); long x = 0; while (w.ElapsedMilliseconds < 3000) x++; } // "spin": busy in user mode
        blockedFor.Stop();
        Console.WriteLine($"A blocked for {blockedFor.ElapsedMilliseconds} ms (asked 3000)");
    });
    a.Start();
    armed.Wait();
    Thread.Sleep(100); // A is inside its wait
    uint* cqTail = (uint*)(ring + cqo[1]);
    var sent = Stopwatch.StartNew();
    N.send(sv[1], (byte*)bufHandle.AddrOfPinnedObject(), 5, 0);
    while (Volatile.Read(ref *cqTail) == 0 && sent.ElapsedMilliseconds < 500) Thread.SpinWait(100);
    Console.WriteLine($"{mode}/{block}: CQ tail {Volatile.Read(ref *cqTail)} {sent.Elapsed.TotalMilliseconds:F2} ms after the data, no signal");
    var sw = Stopwatch.StartNew();
    N.syscall(234, Environment.ProcessId, tidA, 28); // tgkill(A, SIGWINCH)
    while (Volatile.Read(ref *cqTail) == 0 && sw.ElapsedMilliseconds < 500) Thread.SpinWait(100);
    uint tail = Volatile.Read(ref *cqTail);
    int res = tail > 0 ? *(int*)(ring + cqo[5] + 8) : 0;
    Console.WriteLine($"{mode}/{block}: after one SIGWINCH to A, CQ tail {tail} (res {res}) after {sw.Elapsed.TotalMilliseconds:F2} ms");
    a.Join();
}

static unsafe partial class N
{
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n);
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n, long a, nint b);
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n, long a, long b, long c);
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n, long a, long b, long c, long d, long e, long f);
    [LibraryImport("libc", SetLastError = true)] public static partial nint mmap(nint addr, nint len, int prot, int flags, int fd, long off);
    [LibraryImport("libc", SetLastError = true)] public static partial int socketpair(int d, int t, int p, int* sv);
    [LibraryImport("libc", SetLastError = true)] public static partial nint send(int fd, byte* b, nint len, int flags);
}
