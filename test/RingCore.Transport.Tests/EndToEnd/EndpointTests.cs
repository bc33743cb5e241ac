using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>The kinds of endpoint Kestrel can ask the transport to bind, and how binding fails.</summary>
[Collection(ServerCollection.Name)]
public sealed class EndpointTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Answers with the addresses of the connection as the transport reported them.</summary>
    private static Task DescribeConnection(HttpContext context) =>
        context.Response.WriteAsync($"local={context.Connection.LocalIpAddress};remote={context.Connection.RemoteIpAddress};localPort={context.Connection.LocalPort}");

    [Fact]
    public async Task IPv6LoopbackServesRequestsAndReportsTheRealPort()
    {
        await using var server = await RingServer.StartAsync(DescribeConnection,
            configureKestrel: options => options.Listen(IPAddress.IPv6Loopback, 0));

        Assert.NotEqual(0, server.Port);
        Assert.Equal($"http://[::1]:{server.Port}", Assert.Single(server.Addresses));

        using (var client = new HttpClient())
        {
            string body = await client.GetStringAsync($"http://[::1]:{server.Port}/").WaitAsync(Timeout);
            Assert.Equal($"local=::1;remote=::1;localPort={server.Port}", body);
            await server.WaitForConnectionsAsync(1); // the pooled connection is the transport's
        }
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task IPv6AnyIsDualModeAndReachableThroughIPv4AndIPv6Loopback()
    {
        await using var server = await RingServer.StartAsync(DescribeConnection,
            configureKestrel: options => options.Listen(IPAddress.IPv6Any, 0));

        Assert.NotEqual(0, server.Port);
        Assert.Equal($"http://[::]:{server.Port}", Assert.Single(server.Addresses));

        using (var client = new HttpClient())
        {
            // Through IPv4 the dual-mode socket sees an IPv4-mapped IPv6 peer.
            string viaIPv4 = await client.GetStringAsync($"http://127.0.0.1:{server.Port}/").WaitAsync(Timeout);
            Assert.Equal($"local=::ffff:127.0.0.1;remote=::ffff:127.0.0.1;localPort={server.Port}", viaIPv4);

            string viaIPv6 = await client.GetStringAsync($"http://[::1]:{server.Port}/").WaitAsync(Timeout);
            Assert.Equal($"local=::1;remote=::1;localPort={server.Port}", viaIPv6);

            await server.WaitForConnectionsAsync(2); // one pooled connection per address, both on the transport
        }
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task UnixDomainSocketServesRequestsAndItsFileIsRemovedOnStop()
    {
        string directory = Directory.CreateTempSubdirectory("ringcore-uds-").FullName;
        try
        {
            string path = Path.Combine(directory, "kestrel.sock");
            int fdsBefore = ProcessResources.TransportFdCount();

            await using (var server = await RingServer.StartAsync(
                context => context.Response.WriteAsync($"unix remote={context.Connection.RemoteIpAddress?.ToString() ?? "none"} path={context.Request.Path}"),
                configureKestrel: options => options.ListenUnixSocket(path)))
            {
                Assert.Equal($"http://unix:{path}", Assert.Single(server.Addresses));
                Assert.True(File.Exists(path), "the socket file exists while the server listens");

                using (var client = new HttpClient(UnixSocketHandler(path)))
                {
                    for (int i = 0; i < 3; i++)
                    {
                        string body = await client.GetStringAsync($"http://localhost/r{i}").WaitAsync(Timeout);
                        Assert.Equal($"unix remote=none path=/r{i}", body);
                    }
                    await server.WaitForConnectionsAsync(1); // keep-alive: one connection served all three
                }
                await server.WaitForNoConnectionsAsync();
            }

            Assert.False(File.Exists(path), "the transport removes the socket file it created when it stops");
            Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task UnixDomainSocketOnAnExistingFileFailsWithAddressInUseAndLeavesTheFile()
    {
        string directory = Directory.CreateTempSubdirectory("ringcore-uds-").FullName;
        try
        {
            string path = Path.Combine(directory, "taken.sock");
            await File.WriteAllTextAsync(path, "not a socket");
            int fdsBefore = ProcessResources.TransportFdCount();

            var error = await Assert.ThrowsAnyAsync<IOException>(() => RingServer.StartAsync(
                context => Task.CompletedTask, configureKestrel: options => options.ListenUnixSocket(path)));

            AssertAddressInUse(error);
            Assert.Equal("not a socket", await File.ReadAllTextAsync(path)); // someone else's file: not removed
            await ProcessResources.WaitForNoRingThreadsAsync(); // joined, but /proc may list an exiting thread a moment longer
            Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task FileHandleEndPointServesRequestsAndTheSocketStaysOpenAndOurs()
    {
        using var listenSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listenSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listenSocket.Listen(16);
        int port = ((IPEndPoint)listenSocket.LocalEndPoint!).Port;
        int fdsBefore = ProcessResources.TransportFdCount(); // includes listenSocket

        await using (var server = await RingServer.StartAsync(DescribeConnection,
            configureKestrel: options => options.ListenHandle((ulong)listenSocket.Handle)))
        {
            Assert.Equal($"http://127.0.0.1:{port}", Assert.Single(server.Addresses));

            using (var client = new HttpClient())
            {
                for (int i = 0; i < 3; i++)
                {
                    // A new connection each time, so each goes through the adopted socket's accept.
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
                    request.Headers.ConnectionClose = true;
                    using var response = await client.SendAsync(request).WaitAsync(Timeout);
                    response.EnsureSuccessStatusCode();
                    Assert.Equal($"local=127.0.0.1;remote=127.0.0.1;localPort={port}", await response.Content.ReadAsStringAsync());
                }
            }
            await server.WaitForNoConnectionsAsync();
        }

        // The transport did not own the fd: it is still open, still ours, still listening.
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
        Assert.Equal(port, ((IPEndPoint)listenSocket.LocalEndPoint!).Port);
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Timeout);
            using Socket accepted = await listenSocket.AcceptAsync().WaitAsync(Timeout);
            await client.SendAsync("ping"u8.ToArray(), SocketFlags.None);
            var buffer = new byte[4];
            int read = 0;
            while (read < 4)
            {
                int n = await accepted.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None).AsTask().WaitAsync(Timeout);
                Assert.NotEqual(0, n);
                read += n;
            }
            Assert.Equal("ping", Encoding.ASCII.GetString(buffer));
        }
    }

    [Fact]
    public async Task PortZeroWithFourRingsReportsTheRealPortAndSpreadsConnectionsOverRings()
    {
        const int Connections = 200;
        var threadNames = new ConcurrentBag<string>();
        var readyForBody = new ConcurrentDictionary<int, TaskCompletionSource>();
        TaskCompletionSource ReadyFor(int id) => readyForBody.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        await using var server = await RingServer.StartAsync(async (HttpContext context) =>
        {
            int id = int.Parse(context.Request.Path.Value!.AsSpan(1), provider: null);
            var buffer = new byte[16];
            // The read is started before the client is told to send the body, so it cannot complete
            // synchronously: with UnsafeInline scheduling, the code after it runs on the ring thread that received
            // the body.
            ValueTask<int> read = context.Request.Body.ReadAsync(buffer);
            ReadyFor(id).SetResult();
            int n = await read;
            threadNames.Add(Thread.CurrentThread.Name ?? "(unnamed)");
            byte[] answer = Encoding.ASCII.GetBytes($"ok {id} {n}");
            context.Response.ContentLength = answer.Length;
            await context.Response.Body.WriteAsync(answer);
        }, configureTransport: options =>
        {
            options.RingThreadCount = 4;
            options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline;
        });

        Assert.NotEqual(0, server.Port);
        Assert.Equal($"http://127.0.0.1:{server.Port}", Assert.Single(server.Addresses));
        Assert.Equal(4, ProcessResources.RingThreadCount());

        async Task<string> OneConnection(int id)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.LoopbackEndPoint).WaitAsync(Timeout);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /{id} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"), SocketFlags.None);
            await ReadyFor(id).Task.WaitAsync(Timeout);
            await socket.SendAsync("b"u8.ToArray(), SocketFlags.None);
            return await ReadToEndAsync(socket);
        }

        string[] responses = await Task.WhenAll(Enumerable.Range(0, Connections).Select(OneConnection));

        for (int id = 0; id < Connections; id++)
        {
            Assert.StartsWith("HTTP/1.1 200 OK\r\n", responses[id], StringComparison.Ordinal);
            Assert.EndsWith($"\r\n\r\nok {id} 1", responses[id], StringComparison.Ordinal);
        }
        Assert.Equal(Connections, threadNames.Count);
        Assert.All(threadNames, name => Assert.StartsWith("RingCore ring ", name, StringComparison.Ordinal));
        Assert.True(threadNames.Distinct().Count() > 1,
            $"all {Connections} connections were served by {threadNames.First()}: the per-ring listeners do not share the port");
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task BindingAPortInUseFailsWithAddressInUseAndTheFirstServerKeepsWorking()
    {
        await using var first = await RingServer.StartAsync(context => context.Response.WriteAsync("first"));
        Assert.NotEqual(0, first.Port);

        // Taken by another RingCore server.
        var error = await Assert.ThrowsAnyAsync<IOException>(() => RingServer.StartAsync(
            context => context.Response.WriteAsync("second"),
            configureKestrel: options => options.Listen(IPAddress.Loopback, first.Port)));
        AssertAddressInUse(error);

        // Taken by an ordinary Sockets listener.
        using (var ordinary = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            ordinary.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            ordinary.Listen(4);
            int ordinaryPort = ((IPEndPoint)ordinary.LocalEndPoint!).Port;
            var ordinaryError = await Assert.ThrowsAnyAsync<IOException>(() => RingServer.StartAsync(
                context => context.Response.WriteAsync("third"),
                configureKestrel: options => options.Listen(IPAddress.Loopback, ordinaryPort)));
            AssertAddressInUse(ordinaryError);
        }

        // The failed servers released their rings; the first server's two remain and still serve.
        Assert.Equal(2, ProcessResources.RingThreadCount());
        using (var client = new HttpClient { BaseAddress = first.BaseAddress })
        {
            for (int i = 0; i < 5; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/");
                request.Headers.ConnectionClose = true; // new connections: the listener still accepts
                using var response = await client.SendAsync(request).WaitAsync(Timeout);
                Assert.Equal("first", await response.Content.ReadAsStringAsync());
            }
        }
        await first.WaitForNoConnectionsAsync();
    }

    private static void AssertAddressInUse(Exception error)
    {
        var chain = new List<Exception>();
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            chain.Add(e);
        }
        Assert.True(chain.OfType<AddressInUseException>().Any(),
            $"expected an AddressInUseException in the chain: {string.Join(" -> ", chain.Select(e => $"{e.GetType().Name}: {e.Message}"))}");
    }

    private static SocketsHttpHandler UnixSocketHandler(string path) => new()
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Timeout);
            if (n == 0)
            {
                return Encoding.ASCII.GetString(received.ToArray());
            }
            received.Write(buffer, 0, n);
        }
    }
}
