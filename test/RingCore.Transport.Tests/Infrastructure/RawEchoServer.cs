using System.Net;
using System.Net.Sockets;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// A raw-protocol peer on plain sockets: it echoes every byte as it arrives and, when the client half-closes
/// (FIN), sends its own FIN after the last echoed byte. TCP on 127.0.0.1 or a Unix socket. Disposing it closes the
/// listener and waits for the connections it served.
/// </summary>
public sealed class RawEchoServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string? _unixPath;
    private readonly Task _acceptLoop;
    private readonly List<Task> _served = [];
    private int _accepted;

    private RawEchoServer(Socket listener, string? unixPath)
    {
        _listener = listener;
        _unixPath = unixPath;
        EndPoint = listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    public EndPoint EndPoint { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    public static RawEchoServer StartTcp()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(512);
        return new RawEchoServer(listener, null);
    }

    public static RawEchoServer StartUnix()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ringcore-echo-{Guid.NewGuid():N}.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(64);
        return new RawEchoServer(listener, path);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptAsync();
                Interlocked.Increment(ref _accepted);
                lock (_served)
                {
                    _served.Add(EchoAsync(client));
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The listener was closed.
        }
    }

    private static async Task EchoAsync(Socket client)
    {
        using (client)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                int read;
                while ((read = await client.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                {
                    await client.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                }
                client.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The client reset: nothing to echo.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _acceptLoop;
        Task[] served;
        lock (_served)
        {
            served = _served.ToArray();
        }
        await Task.WhenAll(served).WaitAsync(TimeSpan.FromSeconds(20));
        if (_unixPath is not null)
        {
            File.Delete(_unixPath);
        }
    }
}
