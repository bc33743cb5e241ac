using System.Net;
using System.Net.Sockets;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// A TCP port on 127.0.0.1 whose SYNs go unanswered, so a connect to it stays in flight (the kernel retries its SYN
/// for about two minutes): a listening socket with backlog 0 that never accepts, its queue filled by one connection.
/// Linux drops a SYN for a listener whose accept queue is full. A deterministic stand-in for an unroutable address.
/// </summary>
public sealed class UnansweredListener : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _fillers = [];

    public UnansweredListener()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        // Backlog 0 queues one completed connection; with it queued, the next SYN is dropped.
        var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        filler.Connect(EndPoint);
        _fillers.Add(filler);
    }

    public IPEndPoint EndPoint { get; }

    public void Dispose()
    {
        _fillers.ForEach(s => s.Dispose());
        _listener.Dispose();
    }
}
