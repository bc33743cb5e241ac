using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// Opens many keep-alive connections to the server, sends one GET on each, reads the whole answer and holds them.
/// </summary>
internal sealed class IdleConnectionPool : IDisposable
{
    private readonly List<Socket> _sockets = [];

    public int Count
    {
        get
        {
            lock (_sockets)
            {
                return _sockets.Count;
            }
        }
    }

    public int Failures { get; private set; }
    public string? FirstError { get; private set; }

    public async Task OpenAsync(int port, string path, int count, int parallelism, CancellationToken cancel)
    {
        byte[] request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        using var gate = new SemaphoreSlim(parallelism);
        var tasks = new List<Task>(count);
        for (int i = 0; i < count; i++)
        {
            await gate.WaitAsync(cancel);
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    var socket = await OpenOneAsync(endpoint, request, cancel);
                    lock (_sockets)
                    {
                        _sockets.Add(socket);
                    }
                }
                catch (Exception e) when (e is SocketException or IOException or InvalidDataException or OperationCanceledException)
                {
                    lock (_sockets)
                    {
                        Failures++;
                        FirstError ??= e.Message;
                    }
                }
                finally
                {
                    gate.Release();
                }
            }, CancellationToken.None));
        }
        await Task.WhenAll(tasks);
        cancel.ThrowIfCancellationRequested();
    }

    private static async Task<Socket> OpenOneAsync(IPEndPoint endpoint, byte[] request, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token);
            await socket.SendAsync(request, SocketFlags.None, timeout.Token);
            await ReadResponseAsync(socket, timeout.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads one HTTP/1.1 response with a Content-Length body.</summary>
    private static async Task ReadResponseAsync(Socket socket, CancellationToken cancel)
    {
        byte[] buffer = new byte[4096];
        int filled = 0;
        while (true)
        {
            if (filled == buffer.Length)
            {
                throw new InvalidDataException("response headers larger than 4 KiB");
            }
            int read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancel);
            if (read == 0)
            {
                throw new IOException("the server closed the connection before answering");
            }
            filled += read;
            string text = Encoding.ASCII.GetString(buffer, 0, filled);
            int headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headerEnd < 0)
            {
                continue;
            }
            if (!text.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
            {
                throw new InvalidDataException("unexpected response: " + text[..text.IndexOf('\r', StringComparison.Ordinal)]);
            }
            int length = 0;
            foreach (string line in text[..headerEnd].Split("\r\n"))
            {
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                {
                    length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            if (filled >= headerEnd + 4 + length)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
            _sockets.Clear();
        }
    }
}
