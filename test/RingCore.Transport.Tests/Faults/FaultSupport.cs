using System.Buffers.Binary;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// Deterministic test data addressed by position: byte i of stream (seed) is always the same, so a server can
/// produce any range of it and a client can check any range of it without either holding the whole body.
/// </summary>
internal static class Payload
{
    public static void Fill(ulong seed, long offset, Span<byte> destination)
    {
        int i = 0;
        while (i < destination.Length)
        {
            long position = offset + i;
            ulong word = Word(seed, position >> 3);
            int within = (int)(position & 7);
            if (within == 0 && destination.Length - i >= 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(destination[i..], word);
                i += 8;
                continue;
            }
            for (int b = within; b < 8 && i < destination.Length; b++, i++)
            {
                destination[i] = (byte)(word >> (8 * b));
            }
        }
    }

    /// <summary>SHA-256 (hex) of the first <paramref name="length"/> bytes of stream <paramref name="seed"/>.</summary>
    public static string Sha256(ulong seed, long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[64 * 1024];
        for (long offset = 0; offset < length; offset += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, length - offset);
            Fill(seed, offset, chunk.AsSpan(0, n));
            hash.AppendData(chunk, 0, n);
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static ulong Word(ulong seed, long index)
    {
        // SplitMix64 of (seed, index).
        ulong z = seed * 0xD1B54A32D192ED03UL + (ulong)index * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>An upload body streamed from <see cref="Payload"/> in uneven pieces, with a Content-Length.</summary>
internal sealed class PayloadContent(ulong seed, long length, int chunkSize) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        await SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        byte[] chunk = new byte[chunkSize];
        for (long offset = 0; offset < length; offset += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, length - offset);
            Payload.Fill(seed, offset, chunk.AsSpan(0, n));
            await stream.WriteAsync(chunk.AsMemory(0, n), cancellationToken);
        }
    }

    protected override bool TryComputeLength(out long length1)
    {
        length1 = length;
        return true;
    }
}

/// <summary>
/// A raw HTTP/1.1 client over a plain Socket, for the things HttpClient will not do: send nothing, send half a
/// request, send garbage, stop reading, half-close, reset.
/// </summary>
internal sealed class RawClient : IDisposable
{
    private byte[] _buffer;
    private int _start;
    private int _end;

    private RawClient(Socket socket, int bufferSize)
    {
        Socket = socket;
        _buffer = new byte[bufferSize];
    }

    public Socket Socket { get; }

    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken, int? receiveBufferSize = null, int bufferSize = 1024)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (receiveBufferSize is int size)
            {
                socket.ReceiveBufferSize = size; // fixed: no autotuning, so "what the kernel can hold" is bounded
            }
            await socket.ConnectAsync(endPoint, cancellationToken);
            return new RawClient(socket, bufferSize);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static byte[] Get(string path, bool close = false) =>
        Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: localhost\r\n{(close ? "Connection: close\r\n" : "")}\r\n");

    public async Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            int sent = await Socket.SendAsync(data, SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
    }

    public Task SendAsync(string ascii, CancellationToken cancellationToken) => SendAsync(Encoding.ASCII.GetBytes(ascii), cancellationToken);

    /// <summary>Reads a status line and headers; body bytes that came with them stay buffered for <see cref="ReadBodyAsync"/>.</summary>
    public async Task<(int Status, Dictionary<string, string> Headers)> ReadHeadersAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                string head = Encoding.ASCII.GetString(_buffer, _start, end);
                _start += end + 4;
                string[] lines = head.Split("\r\n");
                string[] statusLine = lines[0].Split(' ', 3);
                Assert.True(statusLine.Length >= 2 && statusLine[0].StartsWith("HTTP/1.", StringComparison.Ordinal), $"Not an HTTP/1.x status line: {lines[0]}");
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (string line in lines.Skip(1))
                {
                    int colon = line.IndexOf(':', StringComparison.Ordinal);
                    headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                }
                return (int.Parse(statusLine[1], System.Globalization.CultureInfo.InvariantCulture), headers);
            }
            if (await FillAsync(cancellationToken) == 0)
            {
                throw new EndOfStreamException($"The connection ended inside the response headers after {_end - _start} byte(s).");
            }
        }
    }

    /// <summary>Reads a whole response with a Content-Length body.</summary>
    public async Task<(int Status, byte[] Body)> ReadResponseAsync(CancellationToken cancellationToken)
    {
        var (status, headers) = await ReadHeadersAsync(cancellationToken);
        long length = headers.TryGetValue("Content-Length", out string? value) ? long.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var body = new MemoryStream();
        await ReadBodyAsync(length, chunk => body.Write(chunk), cancellationToken);
        return (status, body.ToArray());
    }

    /// <summary>Reads exactly <paramref name="length"/> body bytes, handing them to <paramref name="sink"/> piece by piece.</summary>
    public async Task ReadBodyAsync(long length, Action<ReadOnlySpan<byte>> sink, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            if (_start == _end && await FillAsync(cancellationToken) == 0)
            {
                throw new EndOfStreamException($"The connection ended with {length} body byte(s) still expected.");
            }
            int n = (int)Math.Min(length, _end - _start);
            sink(_buffer.AsSpan(_start, n));
            _start += n;
            length -= n;
        }
    }

    /// <summary>Reads until the peer's FIN (or a reset); returns what came and how it ended.</summary>
    public async Task<(byte[] Data, bool Reset)> ReadToEndAsync(CancellationToken cancellationToken)
    {
        var data = new MemoryStream();
        data.Write(_buffer, _start, _end - _start);
        _start = _end = 0;
        try
        {
            while (true)
            {
                int n = await Socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, cancellationToken);
                if (n == 0)
                {
                    return (data.ToArray(), false);
                }
                data.Write(_buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset)
        {
            return (data.ToArray(), true);
        }
    }

    /// <summary>Closes with SO_LINGER 0: the peer sees RST, not FIN.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    public void Dispose() => Socket.Dispose();

    private async Task<int> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
        int n = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        _end += n;
        return n;
    }
}

internal static class FaultAssert
{
    /// <summary>
    /// Nothing from the transport above Debug, except its one startup line (event 1, Information): resets, FINs
    /// and hostile clients are routine.
    /// </summary>
    public static void NoRingCoreLogAboveDebug(LogCapture logs)
    {
        var loud = logs.Entries
            .Where(e => e.Level > LogLevel.Debug && e.Category.StartsWith("RingCore", StringComparison.Ordinal))
            .Where(e => !(e.Category == "RingCore.Transport" && e.EventId.Id is 1 or 18 && e.Level == LogLevel.Information)) // the startup lines
            .ToList();
        Assert.True(loud.Count == 0, "RingCore logged above Debug:" + Environment.NewLine + string.Join(Environment.NewLine, loud));
    }

    /// <summary>The status code of an HTTP/1.x response at the start of <paramref name="data"/>, or null if it is not one.</summary>
    public static int? StatusOf(byte[] data)
    {
        string text = Encoding.ASCII.GetString(data, 0, Math.Min(data.Length, 64));
        string[] parts = text.Split(' ', 3);
        return parts.Length >= 2 && parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) && int.TryParse(parts[1], out int status) ? status : null;
    }
}

/// <summary>RLIMIT_NOFILE of this process, raised for tests that hold many sockets.</summary>
internal static unsafe partial class FdLimit
{
    private const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Cur;
        public ulong Max;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, RLimit* limit);

    public static (ulong Soft, ulong Hard) Current
    {
        get
        {
            RLimit limit;
            if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
            {
                throw new IOException($"getrlimit failed: errno {Marshal.GetLastPInvokeError()}");
            }
            return (limit.Cur, limit.Max);
        }
    }

    /// <summary>
    /// Makes the soft limit at least <paramref name="needed"/>: up to the hard limit, and beyond it when the
    /// process may raise the hard limit (root, CAP_SYS_RESOURCE). Null on success, else why not.
    /// </summary>
    public static string? TryRaise(ulong needed)
    {
        var (soft, hard) = Current;
        if (soft >= needed)
        {
            return null;
        }
        RLimit limit = hard >= needed ? new RLimit { Cur = hard, Max = hard } : new RLimit { Cur = needed, Max = needed };
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
        {
            return $"RLIMIT_NOFILE is {soft} (hard {hard}); {needed} are needed and setrlimit to {limit.Cur}/{limit.Max} failed with errno {Marshal.GetLastPInvokeError()}.";
        }
        return null;
    }
}

/// <summary>
/// A fact that needs <c>fds</c> open fds at once: skipped, with the reason, only when this process cannot have them
/// and there is no python3 to hold the client ends in a child process (see <see cref="ChildProcessClients"/>).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FactNeedingFdsAttribute : FactAttribute
{
    public FactNeedingFdsAttribute(int fds)
    {
        // Under CI=true a test that cannot run here fails (in its body) instead of being skipped.
        if (FdLimit.TryRaise((ulong)fds) is string reason && ChildProcessClients.Python is null && !CiEnvironment.IsCi)
        {
            Skip = "Skipped: " + reason + " And no python3 on PATH to hold the client sockets in a child process.";
        }
    }
}

/// <summary>
/// Raw HTTP/1.1 clients held open by a python3 child process, so that their fds count against its RLIMIT_NOFILE and
/// not this process's. It opens N connections to 127.0.0.1:port from several threads, waits until all are open,
/// then sends one GET on each (all in flight together) and checks a 200 "ok" answer, prints "OPEN N", keeps them all open until told to close them (a line on standard
/// input), closes them, prints "CLOSED" and exits 0.
/// </summary>
internal sealed class ChildProcessClients : IAsyncDisposable
{
    private const string Script = """
        import socket, sys, threading
        n, port, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        socks = [None] * n
        errors = []
        barrier = threading.Barrier(workers)
        def read_response(s):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise Exception("EOF inside the headers")
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise Exception(head[:60])
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")[1:] if l.lower().startswith(b"content-length:")][0]
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    raise Exception("EOF inside the body")
                body += chunk
            if body != b"ok":
                raise Exception(body[:60])
        def work(first):
            mine = range(first, n, workers)
            try:
                for i in mine:
                    socks[i] = socket.create_connection(("127.0.0.1", port), timeout=60)
            except Exception as e:
                errors.append(repr(e))
            # Every connection is open before any request is sent: then all the requests are in flight together.
            barrier.wait(timeout=120)
            if errors:
                return
            try:
                for i in mine:
                    socks[i].sendall(request)
                for i in mine:
                    read_response(socks[i])
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            print("ERROR %d: %s" % (len(errors), errors[0]), flush=True)
            sys.exit(1)
        print("OPEN %d" % sum(1 for s in socks if s is not None), flush=True)
        sys.stdin.readline()
        for s in socks:
            s.close()
        print("CLOSED", flush=True)
        """;

    private readonly System.Diagnostics.Process _process;
    private readonly string _scriptPath;

    private ChildProcessClients(System.Diagnostics.Process process, string scriptPath)
    {
        _process = process;
        _scriptPath = scriptPath;
    }

    /// <summary>Full path of python3 on PATH, or null.</summary>
    public static string? Python { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, "python3"))
        .FirstOrDefault(File.Exists);

    public static ChildProcessClients Start(int count, int port, int workers)
    {
        string scriptPath = Path.Combine(Path.GetTempPath(), $"ringcore-clients-{Environment.ProcessId}-{Guid.NewGuid():N}.py");
        File.WriteAllText(scriptPath, Script);
        var start = new System.Diagnostics.ProcessStartInfo(Python ?? throw new InvalidOperationException("python3 is not on PATH"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { scriptPath, count.ToString(System.Globalization.CultureInfo.InvariantCulture), port.ToString(System.Globalization.CultureInfo.InvariantCulture), workers.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        return new ChildProcessClients(System.Diagnostics.Process.Start(start)!, scriptPath);
    }

    /// <summary>The next line the child prints (fails with its standard error if it exits first).</summary>
    public async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        string? line = await _process.StandardOutput.ReadLineAsync(cancellationToken);
        if (line is null)
        {
            await _process.WaitForExitAsync(cancellationToken);
            Assert.Fail($"The client process exited ({_process.ExitCode}) early: {await _process.StandardError.ReadToEndAsync(cancellationToken)}");
        }
        return line!;
    }

    /// <summary>Tells the child to close every connection.</summary>
    public async Task CloseAllAsync()
    {
        await _process.StandardInput.WriteLineAsync();
        await _process.StandardInput.FlushAsync();
    }

    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(); // only the child this test started
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        File.Delete(_scriptPath);
    }
}
