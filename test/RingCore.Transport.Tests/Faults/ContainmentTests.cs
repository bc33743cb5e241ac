using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Connections;
using RingCore.Transport.Tests.Infrastructure;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// A failure stays as small as it is: an exception in a completion handler or in posted work ends one connection;
/// an accept that keeps failing pauses without spinning; a ring whose io_uring_enter fails closes its own
/// connections and listener while the other rings keep serving.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed partial class ContainmentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const int ReadFinEvent = 3;
    private const int AcceptFailedEvent = 9;
    private const int ConnectionFaultedEvent = 13;

    [Fact]
    public async Task AnExceptionInACompletionHandlerEndsOnlyItsConnection()
    {
        // The logging provider throws while the transport logs "the client closed its side (FIN)": that happens
        // inside the receive completion handler on the ring thread.
        var throwing = new ThrowingLoggerProvider(ReadFinEvent);
        await using var server = await RingServer.StartAsync(Ok,
            configureTransport: options => options.RingThreadCount = 1,
            configureServices: services => services.AddLogging(logging => logging.AddProvider(throwing)));
        using var cts = new CancellationTokenSource(Timeout);

        using var survivor = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
        await survivor.SendAsync(RawClient.Get("/"), cts.Token);
        Assert.Equal(200, (await survivor.ReadResponseAsync(cts.Token)).Status);

        using (var victim = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
        {
            await victim.SendAsync(RawClient.Get("/"), cts.Token);
            Assert.Equal(200, (await victim.ReadResponseAsync(cts.Token)).Status);
            victim.Socket.Shutdown(SocketShutdown.Send); // FIN: the handler that logs it throws
            await victim.ReadToEndAsync(cts.Token);      // the server ends this connection
        }
        await server.WaitForConnectionsAsync(1, Timeout);
        Assert.Equal(1, throwing.Thrown);
        LogCapture.LogEntry faulted = await server.Logs.WaitForAsync(e => IsTransport(e, ConnectionFaultedEvent), Timeout);
        Assert.Equal(LogLevel.Error, faulted.Level);

        // The ring carries on: the other connection and new ones are served.
        for (int i = 0; i < 3; i++)
        {
            await survivor.SendAsync(RawClient.Get("/"), cts.Token);
            Assert.Equal(200, (await survivor.ReadResponseAsync(cts.Token)).Status);
        }
        using (var client = new HttpClient { BaseAddress = server.BaseAddress })
        {
            Assert.Equal("ok", await client.GetStringAsync("/", cts.Token));
        }
        survivor.Dispose();
        await server.WaitForNoConnectionsAsync(Timeout);
        // Each FIN threw (the victim's, then HttpClient's and the survivor's): each ended its connection, logged once.
        Assert.Equal(throwing.Thrown, server.Logs.Entries.Count(e => IsTransport(e, ConnectionFaultedEvent)));
        await BurstTests.StopWithinAsync(server, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task AnExceptionInPostedWorkEndsOnlyItsConnection()
    {
        // The handler aborts its connection; the abort's ring-side work is posted to the ring, where the hook throws.
        var hooks = new RingTestHooks();
        int thrown = 0;
        int aborting = 0; // armed by the aborting handler: the survivor's posted work (its responses) must not throw
        hooks.BeforePostedWork = state =>
        {
            if (state is RingConnection && Volatile.Read(ref aborting) == 1 && Interlocked.Exchange(ref thrown, 1) == 0)
            {
                throw new InvalidOperationException("Injected into posted work by the test.");
            }
        };
        await using var server = await RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/abort")
            {
                Volatile.Write(ref aborting, 1);
                context.Abort();
                return Task.CompletedTask;
            }
            return Ok(context);
        }, configureTransport: options =>
        {
            options.RingThreadCount = 1;
            options.TestHooks = hooks;
        });
        using var cts = new CancellationTokenSource(Timeout);

        using var survivor = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
        await survivor.SendAsync(RawClient.Get("/"), cts.Token);
        Assert.Equal(200, (await survivor.ReadResponseAsync(cts.Token)).Status);

        using (var victim = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
        {
            await victim.SendAsync(RawClient.Get("/abort"), cts.Token);
            var (_, reset) = await victim.ReadToEndAsync(cts.Token);
            Assert.True(reset, "the aborted connection was not reset");
        }
        await server.WaitForConnectionsAsync(1, Timeout); // the victim is closed and released, not leaked
        Assert.Equal(1, thrown);
        await server.Logs.WaitForAsync(e => IsTransport(e, ConnectionFaultedEvent), Timeout);

        await survivor.SendAsync(RawClient.Get("/"), cts.Token);
        Assert.Equal(200, (await survivor.ReadResponseAsync(cts.Token)).Status);
        survivor.Dispose();
        await server.WaitForNoConnectionsAsync(Timeout);
        await BurstTests.StopWithinAsync(server, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task AListenerThatFailsUnderItsAcceptorLogsOnceDoesNotSpinAndTheOtherRingKeepsAccepting()
    {
        await using var server = await RingServer.StartAsync(Ok,
            configureTransport: options => options.RingThreadCount = 2);
        using (var client = new HttpClient { BaseAddress = server.BaseAddress })
        {
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }

        // Break one of the two SO_REUSEPORT listening sockets under its acceptor: its accept fails with EINVAL.
        int[] listening = ListeningFds(server.Port);
        Assert.Equal(2, listening.Length);
        Assert.Equal(0, shutdown(listening[0], 0 /* SHUT_RD */));

        await server.Logs.WaitForAsync(e => IsTransport(e, AcceptFailedEvent), Timeout);
        await BurstTests.AssertRingsIdleAsync();
        for (int i = 0; i < 50; i++) // new connections: the broken socket left the group, the other ring accepts them all
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress };
            Assert.Equal("ok", await client.GetStringAsync("/").WaitAsync(Timeout));
        }
        Assert.Single(server.Logs.Entries, e => IsTransport(e, AcceptFailedEvent));
        await server.WaitForNoConnectionsAsync(Timeout);
        await BurstTests.StopWithinAsync(server, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ARingWhoseEnterFailsClosesItsOwnConnectionsAndTheOtherRingKeepsServing()
    {
        var hooks = new RingTestHooks();
        await using var server = await RingServer.StartAsync(Ok,
            configureTransport: options =>
            {
                options.RingThreadCount = 2;
                options.TestHooks = hooks;
            });
        using var cts = new CancellationTokenSource(Timeout);
        using var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, 40);
        await burst.SendAllAsync(RawClient.Get("/"));
        await burst.ExpectAllAsync(1, "ok"u8.ToArray());

        hooks.FailEnterOnRing = 0;
        hooks.FailEnterWithErrno = 14; // EFAULT: the kernel refuses ring 0's next io_uring_enter
        await burst.SendAllAsync(RawClient.Get("/"), ignoreErrors: true); // wakes both rings
        LogCapture.LogEntry critical = await server.Logs.WaitForAsync(e => e.Level == LogLevel.Critical, Timeout);
        Assert.Contains("Ring thread 0 failed", critical.Message, StringComparison.Ordinal);

        // A request ring 0 had already received may still have been answered (the handler sends its response itself),
        // so the first round says little; the next one shows who is left: ring 0's connections were closed (Kestrel
        // saw them end), ring 1's answer and stay open.
        await burst.CountAnsweredAsync("ok"u8.ToArray());
        await burst.SendAllAsync(RawClient.Get("/"), ignoreErrors: true);
        int answered = await burst.CountAnsweredAsync("ok"u8.ToArray());
        Assert.InRange(answered, 1, 39); // SO_REUSEPORT spreads 40 connections over both rings
        await server.WaitForConnectionsAsync(answered, Timeout);

        // New connections all go to the remaining ring.
        for (int i = 0; i < 50; i++)
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress };
            Assert.Equal("ok", await client.GetStringAsync("/", cts.Token));
        }
        Assert.Single(server.Logs.Entries, e => e.Level == LogLevel.Critical);
        burst.Dispose();
        await server.WaitForNoConnectionsAsync(Timeout);
        await BurstTests.StopWithinAsync(server, TimeSpan.FromSeconds(5));
    }

    private static Task Ok(HttpContext context)
    {
        context.Response.ContentLength = 2;
        return context.Response.WriteAsync("ok");
    }

    private static bool IsTransport(LogCapture.LogEntry entry, int eventId) =>
        entry.EventId.Id == eventId && entry.Category == RingCoreLog.Category;

    /// <summary>This process's listening TCP sockets on <paramref name="port"/>.</summary>
    private static unsafe int[] ListeningFds(int port)
    {
        var found = new List<int>();
        byte* address = stackalloc byte[128];
        foreach (string entry in Directory.GetFiles("/proc/self/fd"))
        {
            int fd = int.Parse(Path.GetFileName(entry), System.Globalization.CultureInfo.InvariantCulture);
            int accepting = 0;
            int size = sizeof(int);
            if (getsockopt(fd, 1 /* SOL_SOCKET */, 30 /* SO_ACCEPTCONN */, &accepting, &size) != 0 || accepting != 1)
            {
                continue;
            }
            int length = 128;
            if (getsockname(fd, address, &length) == 0 && ((ushort*)address)[0] == 2 /* AF_INET */
                && (address[2] << 8 | address[3]) == port)
            {
                found.Add(fd);
            }
        }
        return found.ToArray();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getsockopt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getsockname(int fd, byte* address, int* length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int shutdown(int fd, int how);
}
