// Experiment, not product code: could the default scheduling keep SINGLE_ISSUER | DEFER_TASKRUN rings if a takeover
// moved a held ring's connections to a new ring of the new loop thread instead of moving the ring? A held DEFER ring
// makes no progress at all (its completion work runs only inside its own thread's io_uring_enter, and every other
// task gets EEXIST from io_uring_enter and io_uring_register alike), so the move rests on three kernel behaviours,
// checked here on the machine's kernel (docs/design.md, "What it costs"):
//   dontwait  A send with MSG_DONTWAIT on a full socket completes at once with -EAGAIN instead of waiting armed in
//             the kernel (io_uring marks the request REQ_F_NOWAIT), so no send is ever in flight on a held ring.
//   cancel    Data that arrives while the thread is held wakes the held ring's armed multishot recv, whose completion
//             work then waits for that thread. If the thread's first enter after it returns submits an ASYNC_CANCEL
//             (IORING_ASYNC_CANCEL_ANY) first, the recv ends with -ECANCELED and leaves the bytes in the socket for
//             the new ring; without the cancel it takes them (variant "nocancel" shows the experiment can fail).
//   close     An armed request holds a reference to the socket's file, so close() on a connection moved off a held
//             ring sends nothing to the peer until the held thread cancels: shutdown(SHUT_WR) sends the FIN at
//             once, connect(AF_UNSPEC) the reset (tcp_disconnect).
//   dotnet run samples/experiments/HeldDeferRing.cs -- dontwait|cancel|nocancel|close|shutdown|reset
// Constants from include/uapi/linux/io_uring.h (6.1): IORING_OP_POLL_ADD 6, ASYNC_CANCEL 14, SEND 26, RECV 27;
// IOSQE_BUFFER_SELECT 1<<5; IORING_RECV_MULTISHOT 1<<1 (sqe->ioprio); IORING_ASYNC_CANCEL_ANY 1<<2;
// IORING_SETUP_SINGLE_ISSUER 1<<12, DEFER_TASKRUN 1<<13; IORING_ENTER_GETEVENTS 1; IORING_REGISTER_PBUF_RING 22
// (struct io_uring_buf_reg, 40 bytes); IORING_CQE_F_MORE 1<<1, IORING_CQE_BUFFER_SHIFT 16; IORING_OFF_SQES
// 0x10000000; struct io_uring_params 120 bytes (sq_off at 40, cq_off at 80). x86-64 syscalls (syscall_64.tbl):
// io_uring_setup 425, io_uring_enter 426, io_uring_register 427. Socket constants from the glibc headers:
// MSG_DONTWAIT 0x40, SOL_SOCKET 1, SO_LINGER 13, SO_SNDBUF 7, SHUT_WR 1, AF_UNSPEC 0, AF_INET 2, SOCK_STREAM 1.
#:property AllowUnsafeBlocks=true
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

string test = args.Length > 0 ? args[0] : "cancel";
switch (test)
{
    case "dontwait": Experiments.DontWaitSend(); break;
    case "cancel": Experiments.HeldRecv(cancelFirst: true); break;
    case "nocancel": Experiments.HeldRecv(cancelFirst: false); break;
    case "close" or "shutdown" or "reset": Experiments.CloseWhileHeld(test); break;
    default: Console.WriteLine("dontwait | cancel | nocancel | close | shutdown | reset"); break;
}

static unsafe class Experiments
{
    const uint SingleIssuerDeferTaskrun = (1u << 12) | (1u << 13);
    const int ECANCELED = 125, EAGAIN = 11;

    /// <summary>A send on a full socket, with and without MSG_DONTWAIT: completes at once, or waits in the kernel.</summary>
    public static void DontWaitSend()
    {
        using var ring = new MiniRing(SingleIssuerDeferTaskrun);
        var (client, server) = TcpPair();
        int fd = (int)client.Handle;
        byte* chunk = (byte*)NativeMemory.AllocZeroed(65536);
        long filled = 0;
        nint n;
        while ((n = N.send(fd, chunk, 65536, 0x40)) > 0) filled += n; // fill the socket until EAGAIN (the peer never reads)
        Console.WriteLine($"socket full after {filled} bytes");
        foreach (int flags in new[] { 0x40, 0 })
        {
            ring.Send(fd, chunk, 4096, msgFlags: flags, userData: (ulong)(flags + 1));
            ring.Enter(toSubmit: 1, minComplete: 0);
            var cqes = ring.Reap();
            Console.WriteLine(flags != 0
                ? $"MSG_DONTWAIT send: {Describe(cqes)} (expected: res {-EAGAIN} at once, nothing in flight)"
                : $"plain send:        {Describe(cqes)} (expected: nothing, the send waits armed in the kernel)");
        }
        client.Close(); server.Close();
    }

    /// <summary>
    /// Thread A's DEFER ring holds an armed multishot recv while A is held; another ring reads "hello"; "world" arrives
    /// while no other recv is armed; then A returns and enters, with or without a cancel first.
    /// </summary>
    public static void HeldRecv(bool cancelFirst)
    {
        var (client, server) = TcpPair();
        int fd = (int)server.Handle;
        var armed = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        var done = new ManualResetEventSlim();
        string held = "";
        MiniRing? r1 = null;
        var a = new Thread(() =>
        {
            r1 = new MiniRing(SingleIssuerDeferTaskrun);
            r1.RegisterBuffers(groupId: 7, count: 8, size: 4096);
            r1.RecvMultishot(fd, groupId: 7, userData: 1);
            r1.Enter(toSubmit: 1, minComplete: 0);
            armed.Set();
            release.Wait(); // "application code" holds the loop thread
            uint toSubmit = 0;
            if (cancelFirst)
            {
                r1.CancelAny(userData: 2);
                toSubmit = 1;
            }
            r1.Enter(toSubmit, minComplete: 1);
            var sw = Stopwatch.StartNew();
            var cqes = r1.Reap();
            while (sw.ElapsedMilliseconds < 200) { r1.Enter(0, 0); cqes.AddRange(r1.Reap()); Thread.Sleep(10); }
            held = r1.DescribeWithData(cqes);
            done.Set();
        });
        a.Start();
        armed.Wait();
        using var r2 = new MiniRing(SingleIssuerDeferTaskrun); // the new loop thread's ring (this thread)
        byte* buf = (byte*)NativeMemory.AllocZeroed(64);
        client.Send("hello"u8);
        r2.Recv(fd, buf, 64, userData: 10);
        r2.Enter(toSubmit: 1, minComplete: 1);
        var first = r2.Reap();
        Console.WriteLine($"new ring, recv while the old ring's thread is held: {Describe(first)} \"{Text(buf, first)}\"");
        client.Send("world"u8);
        Thread.Sleep(100); // let the held ring's poll fire and queue its completion work
        Console.WriteLine($"held ring's CQ while held: {r1!.CqReady} CQEs (expected 0: its completion work waits for its thread)");
        release.Set();
        done.Wait();
        Console.WriteLine($"held thread returns, {(cancelFirst ? "cancels first" : "no cancel")}, enters: {held}");
        new Span<byte>(buf, 64).Clear();
        r2.Recv(fd, buf, 64, userData: 11);
        r2.Enter(toSubmit: 1, minComplete: 0);
        Thread.Sleep(100);
        r2.Enter(0, 0);
        var second = r2.Reap();
        Console.WriteLine($"new ring, recv after that: {Describe(second)} \"{Text(buf, second)}\"");
        Console.WriteLine(cancelFirst
            ? "expected: the held ring's recv ends -ECANCELED (125) and \"world\" is read by the new ring"
            : "expected: the held ring's recv takes \"world\" (the failure the cancel prevents)");
        client.Close(); server.Close();
    }

    /// <summary>The peer's view when a connection whose recv is armed on a held ring is closed from another thread.</summary>
    public static void CloseWhileHeld(string how)
    {
        var (client, server) = TcpPair();
        int fd = (int)server.Handle;
        var armed = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        var a = new Thread(() =>
        {
            using var r1 = new MiniRing(SingleIssuerDeferTaskrun);
            r1.RegisterBuffers(groupId: 7, count: 8, size: 4096);
            r1.RecvMultishot(fd, groupId: 7, userData: 1);
            r1.Enter(toSubmit: 1, minComplete: 0);
            armed.Set();
            release.Wait();
            r1.CancelAny(userData: 2);
            r1.Enter(1, 1);
        });
        a.Start();
        armed.Wait();
        if (how == "shutdown")
        {
            N.shutdown(fd, 1);
        }
        else if (how == "reset")
        {
            byte* unspec = stackalloc byte[16];
            new Span<byte>(unspec, 16).Clear(); // sa_family AF_UNSPEC
            Console.WriteLine($"connect(AF_UNSPEC): {N.connect(fd, unspec, 16)}");
        }
        server.SafeHandle.SetHandleAsInvalid();
        Console.WriteLine($"{how} then close(fd): {N.close(fd)}");
        client.ReceiveTimeout = 300;
        Console.WriteLine($"peer while the ring's thread is held: {PeerSees(client)}");
        release.Set();
        a.Join();
        client.ReceiveTimeout = 1000;
        Console.WriteLine($"peer after the held thread cancelled: {PeerSees(client)}");
        client.Close();
    }

    static string PeerSees(Socket client)
    {
        try
        {
            int n = client.Receive(new byte[16]);
            return n == 0 ? "FIN (recv returned 0)" : $"{n} bytes";
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode == SocketError.TimedOut ? "nothing" : ex.SocketErrorCode.ToString();
        }
    }

    static (Socket Client, Socket Server) TcpPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        return (client, listener.Accept());
    }

    static string Describe(List<(ulong UserData, int Res, uint Flags)> cqes) =>
        cqes.Count == 0 ? "no CQE" : string.Join(", ", cqes.Select(c => $"[user_data {c.UserData} res {c.Res} flags 0x{c.Flags:x}]"));

    static string Text(byte* buf, List<(ulong UserData, int Res, uint Flags)> cqes) =>
        cqes.Count > 0 && cqes[0].Res > 0 ? System.Text.Encoding.ASCII.GetString(buf, cqes[0].Res) : "";
}

/// <summary>Just enough io_uring for the experiment: one mmap'd SQ/CQ, one provided-buffer ring.</summary>
sealed unsafe class MiniRing : IDisposable
{
    readonly int _fd;
    readonly byte* _ring, _sqes;
    readonly uint _sqEntries, _cqEntries;
    readonly uint* _sqo, _cqo;
    readonly byte* _params;
    uint _sqTail;
    byte* _bufRing, _bufMemory;
    int _bufSize;

    public MiniRing(uint flags)
    {
        _params = (byte*)NativeMemory.AllocZeroed(120);
        *(uint*)(_params + 8) = flags;
        _fd = (int)N.syscall(425, 64, (nint)_params);
        if (_fd < 0) throw new InvalidOperationException($"io_uring_setup: errno {Marshal.GetLastPInvokeError()}");
        _sqEntries = *(uint*)_params; _cqEntries = *(uint*)(_params + 4);
        _sqo = (uint*)(_params + 40); _cqo = (uint*)(_params + 80);
        nint size = (nint)Math.Max(_sqo[6] + _sqEntries * 4, _cqo[5] + _cqEntries * 16);
        _ring = (byte*)N.mmap(0, size, 3, 0x8001, _fd, 0);
        _sqes = (byte*)N.mmap(0, (nint)(_sqEntries * 64), 3, 0x8001, _fd, 0x10000000);
        _sqTail = *(uint*)(_ring + _sqo[1]);
    }

    byte* NextSqe(byte opcode, int fd, ulong userData)
    {
        uint index = _sqTail & (_sqEntries - 1);
        byte* sqe = _sqes + index * 64;
        new Span<byte>(sqe, 64).Clear();
        sqe[0] = opcode;
        *(int*)(sqe + 4) = fd;
        *(ulong*)(sqe + 32) = userData;
        ((uint*)(_ring + _sqo[6]))[index] = index;
        _sqTail++;
        Volatile.Write(ref *(uint*)(_ring + _sqo[1]), _sqTail);
        return sqe;
    }

    public void Send(int fd, byte* buf, uint len, int msgFlags, ulong userData)
    {
        byte* sqe = NextSqe(26, fd, userData);
        *(ulong*)(sqe + 16) = (ulong)buf; *(uint*)(sqe + 24) = len; *(int*)(sqe + 28) = msgFlags;
    }

    public void Recv(int fd, byte* buf, uint len, ulong userData)
    {
        byte* sqe = NextSqe(27, fd, userData);
        *(ulong*)(sqe + 16) = (ulong)buf; *(uint*)(sqe + 24) = len;
    }

    public void RecvMultishot(int fd, ushort groupId, ulong userData)
    {
        byte* sqe = NextSqe(27, fd, userData);
        sqe[1] = 1 << 5;                // IOSQE_BUFFER_SELECT
        *(ushort*)(sqe + 2) = 1 << 1;   // IORING_RECV_MULTISHOT
        *(ushort*)(sqe + 40) = groupId;
    }

    public void CancelAny(ulong userData)
    {
        byte* sqe = NextSqe(14, -1, userData);
        *(uint*)(sqe + 28) = 1 << 2;    // IORING_ASYNC_CANCEL_ANY
    }

    public void RegisterBuffers(ushort groupId, int count, int size)
    {
        _bufSize = size;
        _bufRing = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        new Span<byte>(_bufRing, 4096).Clear();
        _bufMemory = (byte*)NativeMemory.AllocZeroed((nuint)(count * size));
        for (int i = 0; i < count; i++)
        {
            byte* e = _bufRing + i * 16;
            *(ulong*)e = (ulong)(_bufMemory + i * size); *(uint*)(e + 8) = (uint)size; *(ushort*)(e + 12) = (ushort)i;
        }
        Volatile.Write(ref *(ushort*)(_bufRing + 14), (ushort)count); // the tail shares entry 0's reserved field
        byte* reg = stackalloc byte[40];
        new Span<byte>(reg, 40).Clear();
        *(ulong*)reg = (ulong)_bufRing; *(uint*)(reg + 8) = (uint)count; *(ushort*)(reg + 12) = groupId;
        long rc = N.syscall(427, _fd, 22, (nint)reg, 1);
        if (rc < 0) throw new InvalidOperationException($"IORING_REGISTER_PBUF_RING: errno {Marshal.GetLastPInvokeError()}");
    }

    public long Enter(uint toSubmit, uint minComplete) => N.syscall(426, _fd, toSubmit, minComplete, 1 /* GETEVENTS */, 0, 0);

    public uint CqReady => Volatile.Read(ref *(uint*)(_ring + _cqo[1])) - *(uint*)(_ring + _cqo[0]);

    public List<(ulong UserData, int Res, uint Flags)> Reap()
    {
        var list = new List<(ulong, int, uint)>();
        uint* head = (uint*)(_ring + _cqo[0]);
        uint tail = Volatile.Read(ref *(uint*)(_ring + _cqo[1]));
        for (uint h = *head; h != tail; h++)
        {
            byte* cqe = _ring + _cqo[5] + (h & (_cqEntries - 1)) * 16;
            list.Add((*(ulong*)cqe, *(int*)(cqe + 8), *(uint*)(cqe + 12)));
        }
        Volatile.Write(ref *head, tail);
        return list;
    }

    /// <summary>CQEs, with the bytes of provided buffers they carry.</summary>
    public string DescribeWithData(List<(ulong UserData, int Res, uint Flags)> cqes) =>
        cqes.Count == 0 ? "no CQE" : string.Join(", ", cqes.Select(c =>
            $"[user_data {c.UserData} res {c.Res} flags 0x{c.Flags:x}" +
            ((c.Flags & 1) != 0 && c.Res > 0 ? $" \"{System.Text.Encoding.ASCII.GetString(_bufMemory + (c.Flags >> 16) * _bufSize, c.Res)}\"" : "") + "]"));

    public void Dispose() => N.close(_fd);
}

static unsafe partial class N
{
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n, long a, nint b);
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n, long a, long b, nint c, long d);
    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long n, long a, long b, long c, long d, long e, long f);
    [LibraryImport("libc", SetLastError = true)] public static partial nint mmap(nint addr, nint len, int prot, int flags, int fd, long off);
    [LibraryImport("libc", SetLastError = true)] public static partial nint send(int fd, byte* b, nint len, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int shutdown(int fd, int how);
    [LibraryImport("libc", SetLastError = true)] public static partial int connect(int fd, byte* addr, int len);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
}
