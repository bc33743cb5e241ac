using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// Deterministic pseudo-random bytes: byte p of stream <c>seed</c> is a pure function of (seed, p), so a
/// producer and a checker that read it in different chunk sizes see the same bytes, and nothing has to be kept
/// in memory. (SplitMix64 over 8-byte blocks.)
/// </summary>
internal static class DeterministicBytes
{
    public static void Fill(ulong seed, long position, Span<byte> destination)
    {
        long block = position >> 3;
        int skip = (int)(position & 7);
        Span<byte> scratch = stackalloc byte[8];
        int written = 0;
        if (skip != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, Mix(seed, block++));
            int n = Math.Min(8 - skip, destination.Length);
            scratch.Slice(skip, n).CopyTo(destination);
            written = n;
        }
        while (destination.Length - written >= 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination.Slice(written), Mix(seed, block++));
            written += 8;
        }
        if (written < destination.Length)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, Mix(seed, block));
            scratch.Slice(0, destination.Length - written).CopyTo(destination.Slice(written));
        }
    }

    public static byte[] Create(ulong seed, int length)
    {
        var bytes = new byte[length];
        Fill(seed, 0, bytes);
        return bytes;
    }

    /// <summary>SHA-256 of the first <paramref name="length"/> bytes of stream <paramref name="seed"/>, computed on its own.</summary>
    public static string Sha256Hex(ulong seed, long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            for (long position = 0; position < length;)
            {
                int n = (int)Math.Min(buffer.Length, length - position);
                Fill(seed, position, buffer.AsSpan(0, n));
                hash.AppendData(buffer, 0, n);
                position += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static ulong Mix(ulong seed, long block)
    {
        ulong z = seed + (ulong)(block + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>
/// A request body generated on the fly from a seed, in writes of varying size, hashed as it is written (the
/// client's hash of what it sent). With <c>advertiseLength: false</c> HttpClient cannot know the length and
/// sends it with Transfer-Encoding: chunked.
/// </summary>
internal sealed class GeneratedContent(ulong seed, long length, bool advertiseLength) : HttpContent
{
    private static readonly int[] WriteSizes = [65536, 1, 8191, 32768, 100_000, 4096, 17];

    /// <summary>SHA-256 (hex) of the bytes handed to the request stream by the last serialization.</summary>
    public string? SentSha256 { get; private set; }

    public long SentBytes { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(WriteSizes.Max());
        try
        {
            long position = 0;
            for (int i = 0; position < length; i++)
            {
                int n = (int)Math.Min(WriteSizes[i % WriteSizes.Length], length - position);
                DeterministicBytes.Fill(seed, position, buffer.AsSpan(0, n));
                hash.AppendData(buffer, 0, n);
                await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                position += n;
            }
            SentBytes = position;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        SentSha256 = Convert.ToHexString(hash.GetHashAndReset());
    }

    protected override bool TryComputeLength(out long length1)
    {
        length1 = advertiseLength ? length : 0;
        return advertiseLength;
    }
}

/// <summary>A response read off a raw socket.</summary>
internal sealed record RawHttpResponse(int StatusCode, Dictionary<string, string> Headers, byte[] Body, bool Chunked, int ChunkCount)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out string? value) ? value : null;
}

/// <summary>
/// HTTP/1.1 over a plain Socket: the test writes whatever bytes it likes and parses responses itself
/// (Content-Length, chunked, or until EOF), so pipelining and framing can be checked byte for byte.
/// </summary>
internal sealed class RawHttpConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    private RawHttpConnection(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    public static async Task<RawHttpConnection> ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new RawHttpConnection(socket);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            int n = await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            bytes = bytes.Slice(n);
        }
    }

    public Task SendAsync(string ascii, CancellationToken cancellationToken) => SendAsync(Encoding.ASCII.GetBytes(ascii), cancellationToken);

    /// <summary>Reads one complete response. <paramref name="headRequest"/>: the response has no body whatever it says.</summary>
    public async Task<RawHttpResponse> ReadResponseAsync(CancellationToken cancellationToken, bool headRequest = false)
    {
        string statusLine = await ReadLineAsync(cancellationToken) ?? throw new IOException("Connection closed before a response.");
        string[] parts = statusLine.Split(' ', 3);
        Assert.True(parts.Length >= 2 && parts[0] == "HTTP/1.1", $"Bad status line: '{statusLine}'");
        int status = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (true)
        {
            string line = await ReadLineAsync(cancellationToken) ?? throw new IOException("Connection closed inside the headers.");
            if (line.Length == 0)
            {
                break;
            }
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            Assert.True(colon > 0, $"Bad header line: '{line}'");
            string name = line[..colon];
            string value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out string? previous) ? previous + ", " + value : value;
        }

        if (headRequest || status is 204 or 304 || status < 200)
        {
            return new RawHttpResponse(status, headers, [], false, 0);
        }
        if (headers.TryGetValue("Transfer-Encoding", out string? te) && te.Equals("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var body = new MemoryStream();
            int chunks = 0;
            while (true)
            {
                string sizeLine = await ReadLineAsync(cancellationToken) ?? throw new IOException("Connection closed inside a chunked body.");
                int semicolon = sizeLine.IndexOf(';', StringComparison.Ordinal);
                int size = int.Parse(semicolon >= 0 ? sizeLine[..semicolon] : sizeLine, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers, then the empty line.
                    while ((await ReadLineAsync(cancellationToken) ?? throw new IOException("Connection closed inside the trailers.")).Length != 0)
                    {
                    }
                    return new RawHttpResponse(status, headers, body.ToArray(), true, chunks);
                }
                chunks++;
                await ReadExactlyAsync(body, size, cancellationToken);
                string end = await ReadLineAsync(cancellationToken) ?? throw new IOException("Connection closed after a chunk.");
                Assert.True(end.Length == 0, $"Chunk not followed by CRLF: '{end}'");
            }
        }
        if (headers.TryGetValue("Content-Length", out string? cl))
        {
            var body = new MemoryStream();
            await ReadExactlyAsync(body, int.Parse(cl, System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
            return new RawHttpResponse(status, headers, body.ToArray(), false, 0);
        }
        var rest = new MemoryStream();
        while (await FillAsync(cancellationToken))
        {
            rest.Write(_buffer, _start, _end - _start);
            _start = _end;
        }
        return new RawHttpResponse(status, headers, rest.ToArray(), false, 0);
    }

    /// <summary>True when the peer closed the connection (FIN) and no byte was left unread.</summary>
    public async Task<bool> AtEndOfStreamAsync(CancellationToken cancellationToken) => _start == _end && !await FillAsync(cancellationToken);

    public void Dispose() => _socket.Dispose();

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        int searchFrom = _start;
        while (true)
        {
            int lf = Array.IndexOf(_buffer, (byte)'\n', searchFrom, _end - searchFrom);
            if (lf >= 0)
            {
                Assert.True(lf > _start && _buffer[lf - 1] == (byte)'\r', "Line not terminated by CRLF.");
                string line = Encoding.ASCII.GetString(_buffer, _start, lf - 1 - _start);
                _start = lf + 1;
                return line;
            }
            searchFrom = _end - _start; // relative: FillAsync may compact the buffer
            if (!await FillAsync(cancellationToken))
            {
                Assert.True(_start == _end, "Connection closed in the middle of a line.");
                return null;
            }
            searchFrom += _start;
        }
    }

    private async Task ReadExactlyAsync(Stream destination, int count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new IOException($"Connection closed with {count} body byte(s) missing.");
            }
            int n = Math.Min(count, _end - _start);
            destination.Write(_buffer, _start, n);
            _start += n;
            count -= n;
        }
    }

    /// <summary>Receives more bytes after those buffered; false at EOF.</summary>
    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_eof)
        {
            return false;
        }
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            throw new InvalidOperationException("A line longer than the receive buffer.");
        }
        int n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        if (n == 0)
        {
            _eof = true;
            return false;
        }
        _end += n;
        return true;
    }
}
