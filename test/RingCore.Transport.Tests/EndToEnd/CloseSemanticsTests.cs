using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// How a connection ends, on the wire and in the logs, compared with Kestrel's Sockets transport: each test runs the
/// same raw client against RingCore and against Sockets and expects the same FIN or RST and the same event names.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class CloseSemanticsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Transports => new() { "RingCore", "Sockets" };

    /// <summary>HttpContext.Abort gives the transport a reason: without FinOnError that is a reset.</summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AnAbortWithAReasonResets(string transport)
    {
        await using ITestServer server = await StartAsync(transport, app => app.Run(context =>
        {
            context.Abort();
            return Task.CompletedTask;
        }));
        using var cts = new CancellationTokenSource(Timeout);
        using var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
        await client.SendAsync(RawClient.Get("/"), cts.Token);

        var (data, reset) = await client.ReadToEndAsync(cts.Token);

        Assert.Empty(data);
        Assert.True(reset, "The client saw FIN; an abort with a reason must reset.");
        await WaitForEventAsync(server, "ConnectionWriteRst");
        Assert.DoesNotContain(server.Logs.Entries, e => IsTransportEvent(server, e, "ConnectionWriteFin"));
    }

    /// <summary>
    /// With Kestrel's FinOnError switch the same abort closes with FIN. The switch is process-wide and read once, so
    /// this runs in a child process (test/RingCore.FallbackProbe, GET /abort) that sets it before its host starts.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task WithFinOnErrorAnAbortWithAReasonClosesWithFin(string transport)
    {
        await using var probe = ProbeProcess.Start("none", "Throw",
            ["--transport", transport, "--fin-on-error", "on", "--transport-log-level", "Debug"]);
        var address = new Uri(await probe.WaitUntilListeningAsync());
        using var cts = new CancellationTokenSource(Timeout);
        using (var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, address.Port), cts.Token))
        {
            await client.SendAsync(RawClient.Get("/abort"), cts.Token);
            var (data, reset) = await client.ReadToEndAsync(cts.Token);
            Assert.Empty(data);
            Assert.False(reset, $"The client saw RST; with FinOnError an abort must close with FIN.\n{probe.Transcript}");
        }
        if (transport == "RingCore")
        {
            // "dbug: RingCore.Transport[5] Connection ... sending FIN: The connection was aborted by the application."
            await probe.WaitForLineAsync(l => l.Contains("RingCore.Transport[5]", StringComparison.Ordinal), Timeout, what: "the FIN-written event");
            Assert.DoesNotContain(probe.StdoutLines, l => l.Contains("RingCore.Transport[6]", StringComparison.Ordinal));
        }
        await probe.CloseStdinAndAssertCleanExitAsync();
    }

    /// <summary>
    /// A send that fails (here EPIPE: the application shut the socket's sending side through the socket feature)
    /// ends the connection with RST, as Sockets does, without anyone calling Abort. The client sees FIN (from the
    /// application's shutdown) and then, from the transport, RST: its socket goes from CLOSE_WAIT to CLOSE. A FIN
    /// would leave it in CLOSE_WAIT.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AFailedSendResets(string transport)
    {
        await using ITestServer server = await StartAsync(transport, app => app.Run(_ => Task.CompletedTask), listen => listen.Use(next => async connection =>
        {
            // Not before the client's first byte: a reset that beats the client's connect completion fails the connect.
            var first = await connection.Transport.Input.ReadAsync();
            connection.Transport.Input.AdvanceTo(first.Buffer.End);
            connection.Features.Get<IConnectionSocketFeature>()!.Socket.Shutdown(SocketShutdown.Send);
            await connection.Transport.Output.WriteAsync("too late"u8.ToArray());
            await DrainUntilClosedAsync(connection); // returns without Abort: the close is the transport's own
        }));
        using var cts = new CancellationTokenSource(Timeout);
        using var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
        await client.SendAsync("x", cts.Token);

        await WaitForEventAsync(server, "ConnectionWriteRst");
        await WaitForTcpStateAsync(client.Socket, TcpState.Closed, cts.Token);
        Assert.Contains(server.Logs.Entries, e => IsTransportEvent(server, e, "ConnectionReset"));
    }

    /// <summary>
    /// Kestrel's ConnectionClosedWithoutActiveRequestsOrGoAwayFIN: an HTTP/2 client (h2c, prior knowledge) closes
    /// its side without GOAWAY and with no stream open. Kestrel then aborts without a reason, and the transport
    /// must answer promptly with FIN (never RST), logging FIN read and FIN written.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AnHttp2ClientThatClosesWithoutGoAwayGetsFin(string transport)
    {
        await using ITestServer server = await StartAsync(transport, app => app.Run(context => context.Response.WriteAsync("hello")),
            listen => listen.Protocols = HttpProtocols.Http2);
        using var cts = new CancellationTokenSource(Timeout);
        using var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
        byte[] preface = [.. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8, .. Http2Frame(type: 0x4, flags: 0)]; // empty SETTINGS
        await client.SendAsync(preface, cts.Token);
        var (type, flags) = await ReadFrameHeaderAsync(client.Socket, cts.Token);
        Assert.Equal((0x4, 0), (type, flags)); // the server's SETTINGS come first

        client.Socket.Shutdown(SocketShutdown.Send); // FIN, no GOAWAY
        using var prompt = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        prompt.CancelAfter(TimeSpan.FromSeconds(5));
        var (rest, reset) = await client.ReadToEndAsync(prompt.Token);

        output.WriteLine($"{transport}: after the client's FIN the server sent {Describe(rest)}, then {(reset ? "RST" : "FIN")}");
        Assert.False(reset, "The server reset the connection; Sockets closes it with FIN.");
        await WaitForEventAsync(server, "ConnectionReadFin");
        await WaitForEventAsync(server, "ConnectionWriteFin");
        await server.Logs.WaitForAsync(e => e.EventId.Name == "Http2ConnectionClosed", Timeout);
        Assert.DoesNotContain(server.Logs.Entries, e => IsTransportEvent(server, e, "ConnectionWriteRst"));
    }

    /// <summary>
    /// Back-pressure: a handler that does not read a large upload makes the transport stop receiving (pause event);
    /// once it reads, receiving resumes (resume event) and the whole body arrives.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AnUploadTheHandlerDoesNotReadPausesReceivingUntilItReads(string transport)
    {
        const int BodySize = 4 * 1024 * 1024; // four times the default MaxReadBufferSize of both transports
        var startReading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using ITestServer server = await StartAsync(transport, app => app.Run(async context =>
        {
            await startReading.Task.WaitAsync(Timeout);
            long total = 0;
            byte[] buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }
            string answer = total.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.ContentLength = answer.Length;
            await context.Response.WriteAsync(answer);
        }));
        using var cts = new CancellationTokenSource(Timeout);
        using var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
        await client.SendAsync($"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {BodySize}\r\n\r\n", cts.Token);
        // May complete before the handler reads: loopback socket buffers autotune to several MiB.
        Task upload = client.SendAsync(new byte[BodySize], cts.Token);

        LogCapture.LogEntry paused = await WaitForEventAsync(server, "ConnectionPause");
        Assert.DoesNotContain(server.Logs.Entries, e => IsTransportEvent(server, e, "ConnectionResume"));
        startReading.SetResult();
        await upload;
        var (status, body) = await client.ReadResponseAsync(cts.Token);

        Assert.Equal(200, status);
        Assert.Equal(BodySize.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.ASCII.GetString(body));
        LogCapture.LogEntry resumed = await WaitForEventAsync(server, "ConnectionResume");
        var entries = server.Logs.Entries.ToList();
        Assert.True(entries.IndexOf(paused) < entries.IndexOf(resumed), "resume logged before pause");
        if (transport == "RingCore")
        {
            Assert.Equal((15, 16), (paused.EventId.Id, resumed.EventId.Id));
        }
    }

    private static async Task<ITestServer> StartAsync(string transport, Action<IApplicationBuilder> configureApp, Action<ListenOptions>? configureListen = null) =>
        transport == "RingCore"
            ? await RingServer.StartAsync(configureApp, configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen => configureListen?.Invoke(listen)))
            : await SocketsServer.StartAsync(configureApp, configureListen);

    private static bool IsTransportEvent(ITestServer server, LogCapture.LogEntry entry, string eventName) =>
        entry.Category == server.TransportLogCategory && entry.EventId.Name == eventName;

    private static Task<LogCapture.LogEntry> WaitForEventAsync(ITestServer server, string eventName) =>
        server.Logs.WaitForAsync(e => IsTransportEvent(server, e, eventName), Timeout);

    private static async Task DrainUntilClosedAsync(ConnectionContext connection)
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (true)
            {
                var result = await connection.Transport.Input.ReadAsync(cts.Token);
                connection.Transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is ConnectionResetException or ConnectionAbortedException or IOException or OperationCanceledException)
        {
            // The input ends with the reason the connection ended.
        }
    }

    /// <summary>Polls the socket's TCP state (TCP_INFO's first byte); no event announces an incoming RST.</summary>
    private static async Task WaitForTcpStateAsync(Socket socket, TcpState expected, CancellationToken cancellationToken)
    {
        byte[] info = new byte[8];
        TcpState state;
        while ((state = (TcpState)(socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info) > 0 ? info[0] : 0)) != expected)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"The client's socket is in TCP state {state}, expected {expected}.");
            }
            await Task.Delay(10, CancellationToken.None);
        }
    }

    private enum TcpState : byte
    {
        Established = 1,
        TimeWait = 6,
        Closed = 7,
        CloseWait = 8,
    }

    private static byte[] Http2Frame(byte type, byte flags) => [0, 0, 0, type, flags, 0, 0, 0, 0];

    private static async Task<(int Type, int Flags)> ReadFrameHeaderAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] header = new byte[9];
        await ReceiveExactlyAsync(socket, header, cancellationToken);
        int length = (header[0] << 16) | (header[1] << 8) | header[2];
        await ReceiveExactlyAsync(socket, new byte[length], cancellationToken);
        return (header[3], header[4]);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new EndOfStreamException("The server closed the connection inside an HTTP/2 frame.");
            }
            buffer = buffer[n..];
        }
    }

    /// <summary>The HTTP/2 frames in <paramref name="bytes"/>, by type name, for the test output.</summary>
    private static string Describe(byte[] bytes)
    {
        var frames = new List<string>();
        for (int at = 0; at + 9 <= bytes.Length;)
        {
            int length = (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
            string name = bytes[at + 3] switch { 0x4 => "SETTINGS", 0x6 => "PING", 0x7 => "GOAWAY", 0x8 => "WINDOW_UPDATE", var t => $"type {t}" };
            frames.Add((bytes[at + 4] & 1) != 0 && bytes[at + 3] is 0x4 or 0x6 ? name + " ACK" : name);
            at += 9 + length;
        }
        return frames.Count == 0 ? "no frame" : string.Join(", ", frames);
    }
}
