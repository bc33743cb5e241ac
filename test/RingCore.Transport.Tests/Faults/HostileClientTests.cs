using System.Buffers;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// Clients that misbehave: idle, half a request, resets mid-response, half-closes, garbage, huge headers, never
/// read, trickle. The server must free what each one held and go on serving everybody else.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class HostileClientTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task IdleConnectionIsClosedByKestrelTimeouts()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        int requests = 0;
        await using (var server = await RingServer.StartAsync(
            (HttpContext context) => { Interlocked.Increment(ref requests); return Task.CompletedTask; },
            configureKestrel: options =>
            {
                options.Listen(IPAddress.Loopback, 0);
                options.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(2);
                options.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(2);
            }))
        {
            using var cts = new CancellationTokenSource(Timeout);
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
            {
                await server.WaitForConnectionsAsync(1);
                // Send nothing: the server must end it (FIN or RST) on its own, well before our timeout.
                var (data, _) = await client.ReadToEndAsync(cts.Token);
                Assert.Empty(data);
                await server.WaitForNoConnectionsAsync(); // closed by the server while our socket is still open
            }
            Assert.Equal(0, requests);
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task PartialRequestThenFinOrResetLeavesOtherClientsServed()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        // Tells the test which request bytes the server has received on each new connection (peeked, not consumed).
        var firstBytes = Channel.CreateUnbounded<string>();
        await using (var server = await RingServer.StartAsync(
            (HttpContext context) => context.Response.WriteAsync("served " + context.Request.Path),
            configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
            {
                try
                {
                    var result = await connection.Transport.Input.ReadAsync();
                    firstBytes.Writer.TryWrite(Encoding.ASCII.GetString(result.Buffer.ToArray()));
                    connection.Transport.Input.AdvanceTo(result.Buffer.Start);
                }
                catch (ConnectionResetException)
                {
                    return;
                }
                await next(connection);
            }))))
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var bystander = new HttpClient { BaseAddress = server.BaseAddress };
            Assert.Equal("served /before", await bystander.GetStringAsync("/before", cts.Token));
            await WaitForFirstBytesAsync(firstBytes, "GET /before", cts.Token);

            const string partial = "GET /partial HTTP/1.1\r\nHost: localhost\r\nX-Unfinished: ";

            // Half a request, then FIN. Kestrel may answer 400; either way the server closes its side, with FIN.
            using (var finClient = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
            {
                await finClient.SendAsync(partial, cts.Token);
                await WaitForFirstBytesAsync(firstBytes, partial, cts.Token);
                finClient.Socket.Shutdown(SocketShutdown.Send);
                var (data, reset) = await finClient.ReadToEndAsync(cts.Token);
                Assert.False(reset, "The server reset a client that only half-closed.");
                if (data.Length > 0) // Kestrel's 400 races with its own abort on the client's FIN
                {
                    Assert.Equal(400, FaultAssert.StatusOf(data));
                }
                await server.WaitForConnectionsAsync(1); // only the bystander is left
            }

            // Half a request, then RST.
            using (var resetClient = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
            {
                await resetClient.SendAsync(partial, cts.Token);
                await WaitForFirstBytesAsync(firstBytes, partial, cts.Token);
                resetClient.Reset();
                await server.WaitForConnectionsAsync(1);
            }

            // The bystander's kept-alive connection and a new one are both served.
            Assert.Equal("served /after", await bystander.GetStringAsync("/after", cts.Token));
            using (var fresh = new HttpClient { BaseAddress = server.BaseAddress })
            {
                Assert.Equal("served /fresh", await fresh.GetStringAsync("/fresh", cts.Token));
            }
            bystander.Dispose();
            await server.WaitForNoConnectionsAsync();
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task ResetDuringLargeResponseAbortsTheRequestAndIsReleased()
    {
        const long Total = 32L * 1024 * 1024;
        int fdsBefore = ProcessResources.TransportFdCount();
        long written = 0;
        var bodyStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outcome = new TaskCompletionSource<(Exception? Error, bool Aborted)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (var server = await RingServer.StartAsync(async (HttpContext context) =>
        {
            if (context.Request.Path != "/large")
            {
                await context.Response.WriteAsync("small");
                return;
            }
            CancellationToken aborted = context.RequestAborted;
            context.Response.ContentLength = Total;
            byte[] chunk = new byte[64 * 1024];
            Exception? error = null;
            try
            {
                for (long offset = 0; offset < Total; offset += chunk.Length)
                {
                    Payload.Fill(3, offset, chunk);
                    await context.Response.Body.WriteAsync(chunk, aborted);
                    Interlocked.Add(ref written, chunk.Length);
                    bodyStarted.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                error = ex;
            }
            // Once Kestrel has aborted the connection its writes return without sending, so the loop may even run to
            // the end; what must happen (bounded) is that the blocked write is released and RequestAborted fires.
            var abortedFired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (aborted.Register(() => abortedFired.TrySetResult()))
            {
                outcome.TrySetResult((error, await Task.WhenAny(abortedFired.Task, Task.Delay(Timeout)) == abortedFired.Task));
            }
        }))
        {
            using var cts = new CancellationTokenSource(Timeout);
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token, receiveBufferSize: 256 * 1024, bufferSize: 64 * 1024))
            {
                await client.SendAsync(RawClient.Get("/large"), cts.Token);
                var (status, headers) = await client.ReadHeadersAsync(cts.Token);
                Assert.Equal(200, status);
                Assert.Equal(Total.ToString(System.Globalization.CultureInfo.InvariantCulture), headers["Content-Length"]);
                await client.ReadBodyAsync(1024 * 1024, _ => { }, cts.Token);
                await bodyStarted.Task.WaitAsync(Timeout);
                client.Reset(); // 31 MiB still to come: more than the socket buffers hold, so the app is mid-write
            }

            var (error, abortedSeen) = await outcome.Task.WaitAsync(Timeout);
            Assert.True(abortedSeen, $"RequestAborted did not fire after the client reset the connection (app wrote {Volatile.Read(ref written)} bytes; write error: {error?.GetType().Name}).");
            if (error is not null)
            {
                Assert.True(error is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException,
                    $"Unexpected failure of the app's write: {error}");
            }

            // Again and again: which of the reset's two completions (the send's EPIPE, the receive's ECONNRESET) the
            // ring sees first varies, and the connection must be closed and released either way.
            using var repeatCts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            for (int i = 0; i < 1000; i++)
            {
                using var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, repeatCts.Token, receiveBufferSize: 64 * 1024, bufferSize: 16 * 1024);
                await client.SendAsync(RawClient.Get("/large"), repeatCts.Token);
                await client.ReadHeadersAsync(repeatCts.Token);
                client.Reset();
            }

            using (var other = new HttpClient { BaseAddress = server.BaseAddress })
            {
                Assert.Equal("small", await other.GetStringAsync("/small", repeatCts.Token));
            }
            await server.WaitForNoConnectionsAsync();
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    // Kestrel does not support half-close: the transport's ConnectionClosed (fired on the client's FIN, as Kestrel's
    // Sockets transport does) makes Kestrel abort the request and close the connection gracefully, i.e. with
    // ConnectionContext.Abort(null), which must be a FIN, not a RST. So a half-closed client gets no response; what it
    // must get is a clean FIN, and the app must see RequestAborted. (Checked against Kestrel's own Sockets transport,
    // which behaves exactly so; "the whole response arrives" is not what Kestrel does on any transport.)
    [Fact]
    public async Task HalfCloseAfterCompleteRequestAbortsTheRequestAndClosesWithFin()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        var state = new HalfCloseState();
        await using (var server = await RingServer.StartAsync(HalfCloseApp(state)))
        {
            using var cts = new CancellationTokenSource(Timeout);
            await HalfCloseClientAsync(server.LoopbackEndPoint, state, cts.Token);
            await server.WaitForNoConnectionsAsync();

            // Unaffected: a client that does not half-close gets its whole response.
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token, bufferSize: 64 * 1024))
            {
                await client.SendAsync(RawClient.Get("/whole"), cts.Token);
                var (status, headers) = await client.ReadHeadersAsync(cts.Token);
                Assert.Equal(200, status);
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                await client.ReadBodyAsync(HalfCloseState.Length, chunk => hash.AppendData(chunk), cts.Token);
                Assert.Equal(Payload.Sha256(4, HalfCloseState.Length), Convert.ToHexString(hash.GetHashAndReset()));
            }
            await server.WaitForNoConnectionsAsync();
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    internal sealed class HalfCloseState
    {
        public const int Length = 4 * 1024 * 1024;
        public readonly TaskCompletionSource<bool> HalfClosedRequestSawAbort = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    internal static RequestDelegate HalfCloseApp(HalfCloseState state) => async (HttpContext context) =>
    {
        if (context.Request.Path == "/half-closed")
        {
            // Wait (bounded) for Kestrel to notice the client's FIN; only then try to answer.
            var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (context.RequestAborted.Register(() => aborted.TrySetResult()))
            {
                bool seen = await Task.WhenAny(aborted.Task, Task.Delay(Timeout)) == aborted.Task;
                state.HalfClosedRequestSawAbort.TrySetResult(seen);
            }
        }
        context.Response.ContentLength = HalfCloseState.Length;
        byte[] chunk = new byte[100_000];
        for (int offset = 0; offset < HalfCloseState.Length; offset += chunk.Length)
        {
            int n = Math.Min(chunk.Length, HalfCloseState.Length - offset);
            Payload.Fill(4, offset, chunk.AsSpan(0, n));
            await context.Response.Body.WriteAsync(chunk.AsMemory(0, n)); // after an abort Kestrel drops these
        }
    };

    internal static async Task HalfCloseClientAsync(IPEndPoint endPoint, HalfCloseState state, CancellationToken cancellationToken)
    {
        using var client = await RawClient.ConnectAsync(endPoint, cancellationToken, bufferSize: 64 * 1024);
        await client.SendAsync(RawClient.Get("/half-closed"), cancellationToken);
        client.Socket.Shutdown(SocketShutdown.Send); // FIN right after a complete request

        Assert.True(await state.HalfClosedRequestSawAbort.Task.WaitAsync(Timeout), "RequestAborted did not fire after the client's FIN.");
        var (data, reset) = await client.ReadToEndAsync(cancellationToken);
        Assert.False(reset, $"The server reset the connection (after {data.Length} byte(s)); a graceful abort must close with FIN.");
        Assert.Empty(data); // the app's writes came after the abort
    }

    [Fact]
    public async Task GarbageAndOversizedHeadersGetAnErrorOrACloseAndServerKeepsServing()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        int requests = 0;
        await using (var server = await RingServer.StartAsync((HttpContext context) =>
        {
            Interlocked.Increment(ref requests);
            return context.Response.WriteAsync("fine");
        }))
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var bystander = new HttpClient { BaseAddress = server.BaseAddress };
            Assert.Equal("fine", await bystander.GetStringAsync("/", cts.Token));

            // Random binary.
            byte[] garbage = new byte[4096];
            new Random(5).NextBytes(garbage);
            garbage[0] = 0x01; // never a token character, so it can't start a method
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
            {
                await SendTolerantAsync(client, garbage, cts.Token);
                var (data, _) = await client.ReadToEndAsync(cts.Token);
                Assert.Equal(400, FaultAssert.StatusOf(data));
                await server.WaitForConnectionsAsync(1);
            }

            // One 64 KiB header line, twice Kestrel's 32 KiB limit on all headers.
            byte[] oversized = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + new string('a', 64 * 1024) + "\r\n\r\n");
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
            {
                await SendTolerantAsync(client, oversized, cts.Token);
                var (data, _) = await client.ReadToEndAsync(cts.Token);
                Assert.Equal(431, FaultAssert.StatusOf(data));
                await server.WaitForConnectionsAsync(1);
            }

            Assert.Equal(1, Volatile.Read(ref requests)); // neither reached the app
            Assert.Equal("fine", await bystander.GetStringAsync("/", cts.Token));
            using (var fresh = new HttpClient { BaseAddress = server.BaseAddress })
            {
                Assert.Equal("fine", await fresh.GetStringAsync("/", cts.Token));
            }
            bystander.Dispose();
            await server.WaitForNoConnectionsAsync();
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task SlowReaderHoldsBackTheAppNotTheServersMemory()
    {
        const long Total = 64L * 1024 * 1024;
        const int Chunk = 64 * 1024;
        int fdsBefore = ProcessResources.TransportFdCount();
        long written = 0;
        await using (var server = await RingServer.StartAsync(async (HttpContext context) =>
        {
            context.Response.ContentLength = Total;
            byte[] chunk = new byte[Chunk];
            for (long offset = 0; offset < Total; offset += Chunk)
            {
                Payload.Fill(6, offset, chunk);
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                Interlocked.Add(ref written, Chunk);
            }
        }))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token, receiveBufferSize: 256 * 1024, bufferSize: 64 * 1024))
            {
                await client.SendAsync(RawClient.Get("/slow"), cts.Token);
                var (status, _) = await client.ReadHeadersAsync(cts.Token);
                Assert.Equal(200, status);
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                await client.ReadBodyAsync(Chunk, chunk => hash.AppendData(chunk), cts.Token);

                // Stop reading. No event says "the app's write is now blocked", so watch its progress until it
                // stops moving (bounded): with backpressure it stalls at pipe + socket buffers' worth.
                long settled = await WaitUntilStableAsync(() => Volatile.Read(ref written), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(15));
                Assert.True(settled < 16L * 1024 * 1024, $"The app got {settled} bytes ahead of a client that stopped reading.");
                Assert.True(settled < Total);

                await client.ReadBodyAsync(Total - Chunk, chunk => hash.AppendData(chunk), cts.Token);
                Assert.Equal(Payload.Sha256(6, Total), Convert.ToHexString(hash.GetHashAndReset()));
            }
            await server.WaitForNoConnectionsAsync();
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Fact]
    public async Task SlowlorisIsClosedByTheRequestHeadersTimeout()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        int requests = 0;
        await using (var server = await RingServer.StartAsync(
            (HttpContext context) => { Interlocked.Increment(ref requests); return Task.CompletedTask; },
            configureKestrel: options =>
            {
                options.Listen(IPAddress.Loopback, 0);
                options.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(2); // keep-alive timeout stays at its default
            }))
        {
            using var cts = new CancellationTokenSource(Timeout);
            using (var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token))
            {
                byte[] request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + new string('z', 200) + "\r\n\r\n");
                using var stopTrickle = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                Task trickle = Task.Run(async () =>
                {
                    try
                    {
                        foreach (byte b in request)
                        {
                            await client.Socket.SendAsync(new[] { b }, SocketFlags.None, stopTrickle.Token);
                            await Task.Delay(500, stopTrickle.Token); // the attack's pace, not a synchronisation
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException)
                    {
                    }
                });

                var (data, _) = await client.ReadToEndAsync(cts.Token); // ends when the server gives up on us
                stopTrickle.Cancel();
                await trickle.WaitAsync(Timeout);
                Assert.Equal(408, FaultAssert.StatusOf(data));
                await server.WaitForNoConnectionsAsync(); // freed by the server, our socket is still open
            }
            Assert.Equal(0, requests);
            FaultAssert.NoRingCoreLogAboveDebug(server.Logs);
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    private static async Task WaitForFirstBytesAsync(Channel<string> firstBytes, string prefix, CancellationToken cancellationToken)
    {
        while (true)
        {
            string seen = await firstBytes.Reader.ReadAsync(cancellationToken);
            if (seen.StartsWith(prefix, StringComparison.Ordinal))
            {
                return;
            }
        }
    }

    /// <summary>Sends, tolerating a server that has already answered and closed (its RST can beat our last bytes).</summary>
    private static async Task SendTolerantAsync(RawClient client, byte[] data, CancellationToken cancellationToken)
    {
        try
        {
            await client.SendAsync(data, cancellationToken);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
        }
    }

    /// <summary>Polls <paramref name="read"/> until it has not changed for <paramref name="quiet"/>; fails after <paramref name="limit"/>.</summary>
    private static async Task<long> WaitUntilStableAsync(Func<long> read, TimeSpan quiet, TimeSpan limit)
    {
        var total = System.Diagnostics.Stopwatch.StartNew();
        long last = read();
        var sinceChange = System.Diagnostics.Stopwatch.StartNew();
        while (sinceChange.Elapsed < quiet)
        {
            Assert.True(total.Elapsed < limit, $"Still moving after {limit}: {last}");
            await Task.Delay(50);
            long now = read();
            if (now != last)
            {
                last = now;
                sinceChange.Restart();
            }
        }
        return last;
    }
}
