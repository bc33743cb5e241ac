using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Connections;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// How connections begin and end over RingCore: client FIN and RST at every stage of a request, application
/// aborts, ConnectionClosed, graceful server shutdown and Connection: close. Clients are raw sockets so that the
/// test sees exactly how the server closed (FIN: a read returns 0; RST: a read fails with ConnectionReset).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ConnectionLifecycleTests
{
    private static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(15);

    private const string SimpleGet = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

    [Fact]
    public async Task ClientFinBeforeAnyRequest_ServerClosesItsSideWithFin()
    {
        bool appInvoked = false;
        var server = await RingServer.StartAsync(context =>
        {
            appInvoked = true;
            return Task.CompletedTask;
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await server.WaitForConnectionsAsync(1);
                client.ShutdownSend();
                var (bytes, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error is null, $"Expected the server to close with FIN, but the read failed with {error}.");
                Assert.Equal(0, bytes);
            }
            await server.WaitForNoConnectionsAsync();
        }
        Assert.False(appInvoked);
        AssertQuietLogs(server, mark);
    }

    [Fact]
    public async Task ClientFinBetweenRequests_ServerClosesWithFinAndLogsNothingAboveDebug()
    {
        var server = await RingServer.StartAsync(context =>
        {
            context.Response.ContentLength = 5;
            return context.Response.WriteAsync("hello");
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync(SimpleGet);
                RawResponse response = await client.ReadResponseAsync();
                Assert.Equal(200, response.Status);
                Assert.Equal("hello", Encoding.ASCII.GetString(response.Body));

                client.ShutdownSend();
                var (bytes, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error is null, $"Expected the server to close with FIN, but the read failed with {error}.");
                Assert.Equal(0, bytes);
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
    }

    [Fact]
    public async Task ClientFinInsideRequestHeaders_ServerClosesWithFin()
    {
        bool appInvoked = false;
        var server = await RingServer.StartAsync(context =>
        {
            appInvoked = true;
            return Task.CompletedTask;
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync("GET /partial HTTP/1.1\r\nHost: localhost\r\nX-Half: ");
                client.ShutdownSend();
                // Kestrel may or may not get its 400 out before closing; what matters is the close is a FIN.
                var (_, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error is null, $"Expected the server to close with FIN, but the read failed with {error}.");
            }
            await server.WaitForNoConnectionsAsync();
        }
        Assert.False(appInvoked);
        AssertQuietLogs(server, mark);
    }

    [Fact]
    public async Task ClientFinInsideRequestBody_AppSeesTruncatedBodyAndServerCloses()
    {
        const int declared = 100_000;
        const int sent = 1_000;
        var readStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outcome = new TaskCompletionSource<(long Bytes, Exception? Error)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await RingServer.StartAsync(async context =>
        {
            var buffer = new byte[16 * 1024];
            long total = 0;
            try
            {
                while (true)
                {
                    int n = await context.Request.Body.ReadAsync(buffer);
                    if (n == 0)
                    {
                        break;
                    }
                    total += n;
                    readStarted.TrySetResult();
                }
                outcome.TrySetResult((total, null));
            }
            catch (Exception ex)
            {
                outcome.TrySetResult((total, ex));
            }
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync($"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {declared}\r\n\r\n");
                await client.SendAsync(new byte[sent]);
                await readStarted.Task.WaitAsync(WaitTimeout);
                client.ShutdownSend();

                var (bytes, error) = await outcome.Task.WaitAsync(WaitTimeout);
                // Every byte sent before the FIN reaches the app, then the body ends early: Kestrel reports a
                // truncated Content-Length body as a bad request (a FIN must not look like a reset).
                Assert.Equal(sent, bytes);
                Assert.IsAssignableFrom<Microsoft.AspNetCore.Http.BadHttpRequestException>(error);

                // Kestrel itself aborts a connection whose request body was cut short (with a reason, so RST, as on
                // its Sockets transport), unless its graceful close after the FIN gets there first: either close is fine.
                var (_, closeError) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(closeError is null or SocketError.ConnectionReset, $"The server's close failed the read with {closeError}.");
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
    }

    [Fact]
    public async Task ClientResetInsideRequestBody_AppReadFailsAndServerKeepsServing()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        var readStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outcome = new TaskCompletionSource<(long Bytes, Exception? Error, bool Aborted)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await RingServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/ok")
            {
                await context.Response.WriteAsync("ok");
                return;
            }
            var buffer = new byte[16 * 1024];
            long total = 0;
            try
            {
                while (true)
                {
                    int n = await context.Request.Body.ReadAsync(buffer);
                    if (n == 0)
                    {
                        break;
                    }
                    total += n;
                    readStarted.TrySetResult();
                }
                outcome.TrySetResult((total, null, false));
            }
            catch (Exception ex)
            {
                // Returning only once RequestAborted has fired also keeps Kestrel from trying to drain a body whose
                // read failed (which it would log as an error, on any transport).
                outcome.TrySetResult((total, ex, await WhenCancelledAsync(context.RequestAborted, WaitTimeout)));
            }
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n");
                await client.SendAsync(new byte[1000]);
                await readStarted.Task.WaitAsync(WaitTimeout);
                client.Reset();
            }

            var (bytes, error, aborted) = await outcome.Task.WaitAsync(WaitTimeout + WaitTimeout);
            Assert.True(bytes < 1_000_000);
            Assert.True(aborted, "RequestAborted did not fire after the client's reset.");
            Assert.NotNull(error);
            // A reset is an I/O error or an abort, never the clean early end of a body that a FIN gives.
            Assert.False(error is Microsoft.AspNetCore.Http.BadHttpRequestException, $"A reset was reported as a truncated body: {error}");
            Assert.True(error is IOException or OperationCanceledException, $"Unexpected error: {error}");

            using (var http = new HttpClient { BaseAddress = server.BaseAddress })
            {
                Assert.Equal("ok", await http.GetStringAsync("/ok").WaitAsync(WaitTimeout));
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task ClientResetInsideLargeResponse_RequestAbortedFiresAndServerKeepsServing()
    {
        const long total = 64L * 1024 * 1024;
        const int readBeforeReset = 256 * 1024;
        int fdsBefore = ProcessResources.TransportFdCount();
        var outcome = new TaskCompletionSource<(long Written, Exception? Error, bool Aborted)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await RingServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/ok")
            {
                await context.Response.WriteAsync("ok");
                return;
            }
            var chunk = new byte[64 * 1024];
            long written = 0;
            Exception? error = null;
            context.Response.ContentLength = total;
            try
            {
                while (written < total && !context.RequestAborted.IsCancellationRequested)
                {
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    written += chunk.Length;
                }
            }
            catch (Exception ex)
            {
                error = ex;
            }
            // Once the transport has seen the reset, Kestrel drops further writes without failing them, so the
            // loop may also run to its end; either way RequestAborted must fire.
            outcome.TrySetResult((written, error, await WhenCancelledAsync(context.RequestAborted, WaitTimeout)));
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n");
                long received = 0;
                var buffer = new byte[64 * 1024];
                while (received < readBeforeReset)
                {
                    int n = await client.ReadAsync(buffer);
                    Assert.True(n > 0, "The server closed the connection in the middle of the response.");
                    received += n;
                }
                client.Reset();
            }

            var (written, error, aborted) = await outcome.Task.WaitAsync(WaitTimeout + WaitTimeout);
            Assert.True(aborted, $"RequestAborted did not fire after the client's reset ({written} bytes written, error: {error}).");
            Assert.True(error is null or OperationCanceledException or IOException, $"Unexpected write error: {error}");

            using (var http = new HttpClient { BaseAddress = server.BaseAddress })
            {
                Assert.Equal("ok", await http.GetStringAsync("/ok").WaitAsync(WaitTimeout));
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task HttpContextAbort_ClientSeesReset()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await RingServer.StartAsync(async context =>
        {
            // Start the response, so that the connection would otherwise stay open (keep-alive).
            await context.Response.WriteAsync("partial");
            await context.Response.Body.FlushAsync();
            context.Abort();
            aborted.TrySetResult();
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync(SimpleGet);
                await aborted.Task.WaitAsync(WaitTimeout);
                var (_, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error == SocketError.ConnectionReset, $"Expected a reset (SO_LINGER 0) after HttpContext.Abort(), got {(error is null ? "a FIN" : error)}.");
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task ClientFinDuringLongRunningRequest_FiresRequestAbortedAndConnectionClosed()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requestAborted = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var connectionClosed = new TaskCompletionSource<(bool ThreadPool, string? ThreadName)>(TaskCreationOptions.RunContinuationsAsynchronously);
        Type? lifetimeType = null;
        var server = await RingServer.StartAsync(async context =>
        {
            var lifetime = context.Features.Get<IConnectionLifetimeFeature>();
            lifetimeType = lifetime?.GetType();
            lifetime?.ConnectionClosed.Register(() =>
                connectionClosed.TrySetResult((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name)));
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted).WaitAsync(WaitTimeout);
                requestAborted.TrySetResult(false);
            }
            catch (OperationCanceledException)
            {
                requestAborted.TrySetResult(true);
            }
            catch (TimeoutException)
            {
                requestAborted.TrySetResult(false);
            }
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync(SimpleGet);
                await started.Task.WaitAsync(WaitTimeout);
                Assert.Equal(typeof(RingConnection), lifetimeType); // the transport's own token, not a wrapper's
                client.ShutdownSend();

                Assert.True(await requestAborted.Task.WaitAsync(WaitTimeout + WaitTimeout), "RequestAborted did not fire after the client's FIN.");
                var (onThreadPool, threadName) = await connectionClosed.Task.WaitAsync(WaitTimeout);
                Assert.True(onThreadPool, $"ConnectionClosed ran inline on thread '{threadName}', not on the thread pool.");

                // Kestrel closes the connection with Abort(null) here, which is a graceful close: FIN, as with Sockets.
                var (_, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error is null, $"Expected the server to close with FIN, but the read failed with {error}.");
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
    }

    [Fact]
    public async Task GracefulShutdown_LetsInFlightRequestFinishAndRefusesNewConnections()
    {
        const int bodyLength = 100_000;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        byte[] body = Pattern(bodyLength);
        var server = await RingServer.StartAsync(async context =>
        {
            started.TrySetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
        int mark = server.Logs.Entries.Count;
        IPEndPoint endPoint = server.LoopbackEndPoint;
        var stopping = server.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(endPoint))
            {
                await client.SendAsync(SimpleGet);
                await started.Task.WaitAsync(WaitTimeout);

                Task stop = server.StopAsync();
                await WhenCancelledAsync(stopping).WaitAsync(WaitTimeout);
                await WaitUntilConnectRefusedAsync(endPoint); // the listener is unbound; the request is still in flight
                Assert.False(stop.IsCompleted, "The server stopped while a request was still in flight.");

                release.TrySetResult();
                RawResponse response = await client.ReadResponseAsync();
                Assert.Equal(200, response.Status);
                Assert.True(body.AsSpan().SequenceEqual(response.Body), "The body differs from what the app wrote.");
                var (extra, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error is null, $"Expected the server to close with FIN after the response, but the read failed with {error}.");
                Assert.Equal(0, extra);

                await stop.WaitAsync(WaitTimeout + WaitTimeout);
            }
            await server.WaitForNoConnectionsAsync();

            using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var refused = await Assert.ThrowsAsync<SocketException>(() => late.ConnectAsync(endPoint).WaitAsync(WaitTimeout));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
        AssertQuietLogs(server, mark);
    }

    [Fact]
    public async Task ConnectionCloseResponse_ClientGetsEveryByteThenFin()
    {
        const int bodyLength = 4 * 1024 * 1024;
        byte[] body = Pattern(bodyLength);
        var server = await RingServer.StartAsync(async context =>
        {
            context.Response.Headers.Connection = "close";
            context.Response.ContentLength = body.Length;
            for (int offset = 0; offset < body.Length; offset += 16 * 1024)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(16 * 1024, body.Length - offset)));
            }
        });
        int mark = server.Logs.Entries.Count;
        await using (server)
        {
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint))
            {
                await client.SendAsync(SimpleGet);
                RawResponse response = await client.ReadResponseAsync();
                Assert.Equal(200, response.Status);
                Assert.Equal("close", response.Headers["Connection"], ignoreCase: true);
                Assert.True(body.AsSpan().SequenceEqual(response.Body), "The body differs from what the app wrote.");

                var (extra, error) = await client.ReadUntilClosedOrResetAsync();
                Assert.True(error is null, $"Expected FIN after the last byte, but the read failed with {error}.");
                Assert.Equal(0, extra);
            }
            await server.WaitForNoConnectionsAsync();
        }
        AssertQuietLogs(server, mark);
    }

    /// <summary>
    /// Nothing above Debug from RingCore, and no warning or error from Kestrel's connection handling, since the
    /// server started (up to and including its shutdown).
    /// </summary>
    private static void AssertQuietLogs(RingServer server, int mark)
    {
        var loud = server.Logs.Entries.Skip(mark).Where(e =>
            (e.Category.StartsWith("RingCore", StringComparison.Ordinal) && e.Level > LogLevel.Debug) ||
            (e.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) && e.Level >= LogLevel.Warning)).ToList();
        Assert.True(loud.Count == 0, "Unexpected log entries:" + Environment.NewLine + string.Join(Environment.NewLine, loud));
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }
        return bytes;
    }

    /// <summary>True once <paramref name="token"/> is cancelled; false if it is not within <paramref name="timeout"/>.</summary>
    private static async Task<bool> WhenCancelledAsync(CancellationToken token, TimeSpan timeout)
    {
        try
        {
            await WhenCancelledAsync(token).WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static Task WhenCancelledAsync(CancellationToken token)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => cancelled.TrySetResult());
        return cancelled.Task;
    }

    /// <summary>
    /// Connects until the kernel refuses: the listening sockets are closed. Nothing signals the unbind to a test,
    /// so this probes (every connect that is still accepted is closed at once) until refused or the timeout.
    /// </summary>
    private static async Task WaitUntilConnectRefusedAsync(IPEndPoint endPoint)
    {
        var elapsed = Stopwatch.StartNew();
        while (true)
        {
            using (var probe = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp))
            {
                try
                {
                    await probe.ConnectAsync(endPoint).WaitAsync(WaitTimeout);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    return;
                }
                catch (SocketException)
                {
                    // A probe caught in a closing backlog is reset; try again.
                }
            }
            if (elapsed.Elapsed > WaitTimeout)
            {
                Assert.Fail("The server still accepts connections after StopAsync began.");
            }
            await Task.Delay(20);
        }
    }

    private sealed record RawResponse(int Status, Dictionary<string, string> Headers, byte[] Body);

    /// <summary>A raw HTTP/1.1 client over a Socket. Every read and write fails after a timeout instead of hanging.</summary>
    private sealed class RawClient : IDisposable
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        private RawClient(Socket socket) => Socket = socket;

        public Socket Socket { get; }

        public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint)
        {
            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var timeout = new CancellationTokenSource(WaitTimeout);
                await socket.ConnectAsync(endPoint, timeout.Token);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            return new RawClient(socket);
        }

        public Task SendAsync(string ascii) => SendAsync(Encoding.ASCII.GetBytes(ascii));

        public async Task SendAsync(ReadOnlyMemory<byte> data)
        {
            using var timeout = new CancellationTokenSource(WaitTimeout);
            while (!data.IsEmpty)
            {
                int n = await Socket.SendAsync(data, SocketFlags.None, timeout.Token);
                data = data[n..];
            }
        }

        /// <summary>Buffered bytes first, then one receive. 0 means the server sent FIN.</summary>
        public async Task<int> ReadAsync(Memory<byte> destination)
        {
            if (_end > _start)
            {
                int n = Math.Min(destination.Length, _end - _start);
                _buffer.AsMemory(_start, n).CopyTo(destination);
                _start += n;
                return n;
            }
            using var timeout = new CancellationTokenSource(WaitTimeout);
            return await Socket.ReceiveAsync(destination, SocketFlags.None, timeout.Token);
        }

        /// <summary>Reads one response with a Content-Length body; leaves anything after it buffered.</summary>
        public async Task<RawResponse> ReadResponseAsync()
        {
            int headerEnd;
            while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (!await FillAsync())
                {
                    throw new EndOfStreamException("The server closed the connection before the end of the response headers: " +
                        Encoding.ASCII.GetString(_buffer, _start, _end - _start));
                }
            }
            string head = Encoding.ASCII.GetString(_buffer, _start, headerEnd);
            _start += headerEnd + 4;

            string[] lines = head.Split("\r\n");
            int status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string line in lines.Skip(1))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
            Assert.True(headers.TryGetValue("Content-Length", out string? lengthText), "Response without Content-Length:\n" + head);
            var body = new byte[long.Parse(lengthText!, System.Globalization.CultureInfo.InvariantCulture)];
            int read = 0;
            while (read < body.Length)
            {
                int n = await ReadAsync(body.AsMemory(read));
                if (n == 0)
                {
                    throw new EndOfStreamException($"The server closed the connection after {read} of {body.Length} body bytes.");
                }
                read += n;
            }
            return new RawResponse(status, headers, body);
        }

        /// <summary>
        /// Reads until the server closes. Returns the bytes read and null after a FIN (a read of 0), or the socket
        /// error when the connection was reset.
        /// </summary>
        public async Task<(long Bytes, SocketError? Error)> ReadUntilClosedOrResetAsync()
        {
            long total = _end - _start;
            _start = _end = 0;
            try
            {
                while (true)
                {
                    using var timeout = new CancellationTokenSource(WaitTimeout);
                    int n = await Socket.ReceiveAsync(_buffer, SocketFlags.None, timeout.Token);
                    if (n == 0)
                    {
                        return (total, null);
                    }
                    total += n;
                }
            }
            catch (SocketException ex)
            {
                return (total, ex.SocketErrorCode);
            }
        }

        public void ShutdownSend() => Socket.Shutdown(SocketShutdown.Send);

        /// <summary>Closes with SO_LINGER 0: the kernel sends RST.</summary>
        public void Reset()
        {
            Socket.LingerState = new LingerOption(true, 0);
            Socket.Close();
        }

        public void Dispose() => Socket.Dispose();

        private async Task<bool> FillAsync()
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
            {
                throw new InvalidOperationException("Response headers larger than the client's buffer.");
            }
            using var timeout = new CancellationTokenSource(WaitTimeout);
            int n = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, timeout.Token);
            _end += n;
            return n > 0;
        }
    }
}
