using System.Net;
using System.Net.Sockets;
using RingCore.BenchmarkRunner.Parsing;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// One keep-alive HTTP/1.1 connection over a plain socket, for the mixed workload. It writes whatever request bytes it
/// is given (several requests back to back pipeline them) and reads answers one at a time, each with a Content-Length
/// body (every answer of the sample app has one). A raw socket rather than HttpClient: it can pipeline, and every
/// request of a client provably goes over its one connection.
/// </summary>
internal sealed class RawHttpConnection : IDisposable
{
    // Room for any head the sample app sends; bodies are copied out of it as they arrive.
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly Socket _socket;
    private int _start;
    private int _end;

    private RawHttpConnection(Socket socket) => _socket = socket;

    /// <summary>Bytes read from the socket so far (heads and bodies).</summary>
    public long BytesRead { get; private set; }

    public static async Task<RawHttpConnection> ConnectAsync(IPEndPoint endpoint, CancellationToken cancel)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancel);
            return new RawHttpConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancel)
    {
        while (bytes.Length > 0)
        {
            int sent = await _socket.SendAsync(bytes, SocketFlags.None, cancel);
            bytes = bytes[sent..];
        }
    }

    /// <summary>
    /// Reads the next answer: its head, then its body into <paramref name="body"/> (the returned length says how much).
    /// A body longer than <paramref name="body"/>, a chunked one or a connection closed midway is an
    /// <see cref="InvalidDataException"/> or <see cref="IOException"/>: the connection is not usable after that.
    /// </summary>
    public async Task<(HttpResponseHead Head, int BodyLength)> ReadResponseAsync(Memory<byte> body, CancellationToken cancel)
    {
        int headEnd;
        while ((headEnd = HttpResponseHead.FindEnd(_buffer.AsSpan(_start, _end - _start))) < 0)
        {
            if (_start == 0 && _end == _buffer.Length)
            {
                throw new InvalidDataException($"an answer head larger than {_buffer.Length} bytes");
            }
            await FillAsync(cancel);
        }
        HttpResponseHead head;
        try
        {
            head = HttpResponseHead.Parse(_buffer.AsSpan(_start, headEnd));
        }
        catch (FormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        _start += headEnd;
        if (head.Chunked || head.ContentLength is not long length)
        {
            throw new InvalidDataException("an answer without Content-Length (the sample app always sends one)");
        }
        if (length > body.Length)
        {
            throw new InvalidDataException($"a {length:N0}-byte answer where at most {body.Length:N0} were expected");
        }
        int filled = 0;
        while (filled < length)
        {
            if (_start == _end)
            {
                await FillAsync(cancel);
            }
            int take = (int)Math.Min(length - filled, _end - _start);
            _buffer.AsSpan(_start, take).CopyTo(body.Span[filled..]);
            _start += take;
            filled += take;
        }
        return (head, filled);
    }

    /// <summary>Reads more from the socket after what is buffered (moving that to the front first).</summary>
    private async Task FillAsync(CancellationToken cancel)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        int read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancel);
        if (read == 0)
        {
            throw new IOException("the server closed the connection in the middle of an answer");
        }
        _end += read;
        BytesRead += read;
    }

    public void Dispose() => _socket.Dispose();
}
