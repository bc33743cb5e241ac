using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using RingCore.Transport.Outbound;
using RingCore.Transport.Tests.Infrastructure;
using static RingCore.Transport.Tests.Outbound.OutboundTestSupport;

namespace RingCore.Transport.Tests.Outbound;

/// <summary>
/// <see cref="RingCoreConnectionFactory"/> used directly, with a raw protocol: real rings, real sockets on loopback
/// and Unix sockets, errors compared with what Socket.ConnectAsync raises for the same target.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ConnectionFactoryTests
{
    [Theory]
    [InlineData("tcp")]
    [InlineData("unix")]
    public async Task Echo_with_half_close_returns_every_byte_then_the_peers_end_and_leaves_nothing(string kind)
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        await using (RawEchoServer echo = kind == "tcp" ? RawEchoServer.StartTcp() : RawEchoServer.StartUnix())
        await using (RingCoreConnectionFactory factory = NewFactory())
        {
            byte[] payload = RandomNumberGenerator.GetBytes(4 * 1024 * 1024);
            ConnectionContext connection = await factory.ConnectAsync(echo.EndPoint).AsTask().WaitAsync(TestTimeout);
            Assert.True(ProcessResources.IoUringFdCount() > 0);
            Assert.Equal(echo.EndPoint.ToString(), connection.RemoteEndPoint?.ToString());

            Task<byte[]> reading = ReadToEndAsync(connection.Transport.Input);
            for (int offset = 0; offset < payload.Length; offset += 64 * 1024)
            {
                await connection.Transport.Output.WriteAsync(payload.AsMemory(offset, 64 * 1024)).AsTask().WaitAsync(TestTimeout);
            }
            // Half-close: FIN goes out after the last byte; the echo keeps coming until the peer's own FIN.
            await connection.Transport.Output.CompleteAsync();
            byte[] echoed = await reading.WaitAsync(TestTimeout);

            Assert.Equal(payload.Length, echoed.Length);
            Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
            await connection.DisposeAsync().AsTask().WaitAsync(TestTimeout);
            Assert.Equal(0, factory.ActiveConnections);
            Assert.Equal(0, RingOwners(factory));
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task Disposing_a_half_closed_connection_whose_peer_never_ends_closes_it()
    {
        // A peer that reads but never answers or closes: after our FIN only DisposeAsync can end the connection.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        await using RingCoreConnectionFactory factory = NewFactory();
        ConnectionContext connection = await factory.ConnectAsync(listener.LocalEndPoint!).AsTask().WaitAsync(TestTimeout);
        using Socket peer = await listener.AcceptAsync().WaitAsync(TestTimeout);

        await connection.Transport.Output.WriteAsync("hello"u8.ToArray());
        await connection.Transport.Output.CompleteAsync();
        var received = new byte[16];
        Assert.Equal(5, await peer.ReceiveAsync(received.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TestTimeout));
        Assert.Equal(0, await peer.ReceiveAsync(received.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TestTimeout)); // our FIN

        await connection.DisposeAsync().AsTask().WaitAsync(TestTimeout);
        Assert.Equal(0, factory.ActiveConnections);
        Assert.Equal(0, RingOwners(factory));
    }

    [Fact]
    public async Task A_refused_connect_fails_as_Socket_ConnectAsync_does_with_the_endpoint_in_the_message()
    {
        var closedPort = ClosedPort();
        await using RingCoreConnectionFactory factory = NewFactory();

        var ours = await Assert.ThrowsAsync<SocketException>(() => factory.ConnectAsync(closedPort).AsTask()).WaitAsync(TestTimeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var sockets = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(closedPort)).WaitAsync(TestTimeout);

        Assert.Equal(SocketError.ConnectionRefused, ours.SocketErrorCode);
        Assert.Equal(sockets.SocketErrorCode, ours.SocketErrorCode);
        Assert.Equal(sockets.NativeErrorCode, ours.NativeErrorCode);
        Assert.Contains(closedPort.ToString(), ours.Message);
        Assert.Equal(0, RingOwners(factory));
    }

    [Fact]
    public async Task A_missing_unix_socket_fails_as_Socket_ConnectAsync_does()
    {
        var missing = new UnixDomainSocketEndPoint(Path.Combine(Path.GetTempPath(), $"ringcore-missing-{Guid.NewGuid():N}.sock"));
        await using RingCoreConnectionFactory factory = NewFactory();

        var ours = await Assert.ThrowsAsync<SocketException>(() => factory.ConnectAsync(missing).AsTask()).WaitAsync(TestTimeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var sockets = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(missing)).WaitAsync(TestTimeout);

        Assert.Equal(sockets.SocketErrorCode, ours.SocketErrorCode);
    }

    [Fact]
    public async Task Cancelling_a_connect_in_flight_cancels_it_in_the_kernel_and_leaves_nothing()
    {
        using var unanswered = new UnansweredListener();
        int fdsBefore = ProcessResources.TransportFdCount();
        await using (RingCoreConnectionFactory factory = NewFactory())
        {
            using var cancel = new CancellationTokenSource();
            Task<ConnectionContext> connecting = factory.ConnectAsync(unanswered.EndPoint, cancel.Token).AsTask();
            // The connect is in the kernel once its operation is registered on a ring (SYNs go unanswered).
            await WaitUntilAsync(() => RingOwners(factory) == 1, () => "the connect never reached a ring");
            Assert.False(connecting.IsCompleted);
            cancel.Cancel();

            var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting).WaitAsync(TestTimeout);
            Assert.Equal(cancel.Token, error.CancellationToken);
            await WaitUntilAsync(() => RingOwners(factory) == 0, () => "the connect is still registered on its ring");
            Assert.Equal(0, factory.ActiveConnections);
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task A_token_cancelled_before_the_call_throws_without_touching_a_ring()
    {
        await using RingCoreConnectionFactory factory = NewFactory();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 1), new CancellationToken(true)).AsTask());
        Assert.Equal(0, ProcessResources.RingThreadCount());
    }

    [Fact]
    public async Task Addresses_are_tried_in_order_until_one_accepts()
    {
        await using RawEchoServer echo = RawEchoServer.StartTcp();
        int port = ((IPEndPoint)echo.EndPoint).Port;
        await using RingCoreConnectionFactory factory = NewFactory();
        var settings = factory.Runtime;
        Assert.True(settings.TryAcquireRings());
        try
        {
            // 127.0.0.2 is this host too, but nothing listens there on that port: refused, then 127.0.0.1 answers.
            var attempts = new List<EndPoint>();
            RingConnectionHolder holder = await EndPointConnector.ConnectAnyAsync(
                [new IPEndPoint(IPAddress.Parse("127.0.0.2"), port), new IPEndPoint(IPAddress.Loopback, port)],
                async (address, token) =>
                {
                    attempts.Add(address);
                    return new RingConnectionHolder(await factory.ConnectAsync(address, token));
                },
                CancellationToken.None).WaitAsync(TestTimeout);
            await using ConnectionContext connection = holder.Connection;
            Assert.Equal(2, attempts.Count);
            Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), connection.RemoteEndPoint);
        }
        finally
        {
            await settings.ReleaseRingsAsync();
        }
    }

    [Fact]
    public async Task A_DnsEndPoint_is_resolved_and_connected()
    {
        await using RawEchoServer echo = RawEchoServer.StartTcp();
        await using RingCoreConnectionFactory factory = NewFactory();
        // localhost may resolve to ::1 first (nothing listens there: refused) and then 127.0.0.1.
        await using ConnectionContext connection = await factory.ConnectAsync(new DnsEndPoint("localhost", ((IPEndPoint)echo.EndPoint).Port)).AsTask().WaitAsync(TestTimeout);
        await connection.Transport.Output.WriteAsync("ping"u8.ToArray());
        ReadResult result = await connection.Transport.Input.ReadAtLeastAsync(4).AsTask().WaitAsync(TestTimeout);
        Assert.Equal("ping"u8.ToArray(), result.Buffer.Slice(0, 4).ToArray());
        connection.Transport.Input.AdvanceTo(result.Buffer.End);
    }

    [Fact]
    public async Task The_factory_is_the_hosts_IConnectionFactory_and_shares_the_listeners_rings()
    {
        await using RingServer server = await RingServer.StartAsync((HttpContext context) => context.Response.WriteAsync("served"),
            configureServices: services => services.AddRingCoreConnectionFactory());
        var factory = Assert.IsType<RingCoreConnectionFactory>(server.Services.GetRequiredService<IConnectionFactory>());
        Assert.Same(server.Factory.Group, factory.Runtime.Group);
        int ringThreads = ProcessResources.RingThreadCount();

        await using ConnectionContext connection = await factory.ConnectAsync(server.LoopbackEndPoint).AsTask().WaitAsync(TestTimeout);
        await connection.Transport.Output.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
        byte[] response = await ReadToEndAsync(connection.Transport.Input).WaitAsync(TestTimeout);

        Assert.Contains("\r\n\r\n6\r\nserved\r\n0\r\n\r\n", System.Text.Encoding.ASCII.GetString(response)); // chunked
        Assert.Equal(ringThreads, ProcessResources.RingThreadCount()); // no thread of its own
    }

    private static IPEndPoint ClosedPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)probe.LocalEndPoint!; // bound, never listening, closed on return: connecting is refused
    }

    private static async Task<byte[]> ReadToEndAsync(PipeReader input)
    {
        var received = new MemoryStream();
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.Write(segment.Span);
            }
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return received.ToArray();
            }
        }
    }

    private sealed record RingConnectionHolder(ConnectionContext Connection);
}
