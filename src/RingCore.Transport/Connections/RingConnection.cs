using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using RingCore.Transport.Interop;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Connections;

/// <summary>
/// One accepted socket served by one ring thread for its whole life. This file is the face Kestrel sees
/// (ConnectionContext and its features, Abort, DisposeAsync); the ring-side work is in
/// RingConnection.Receive.cs, RingConnection.Send.cs and RingConnection.Close.cs, and runs on the ring thread.
/// </summary>
internal sealed partial class RingConnection : ConnectionContext, IRingOperationOwner,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IConnectionSocketFeature
{
    private const byte OpRecv = 1;
    private const byte OpSend = 2;
    private const int AbortWithRst = 1;
    private const int AbortWithFin = 2;

    private readonly RingThread _ring;
    private readonly ConnectionSettings _settings;
    private readonly AddressFamily _family;
    private readonly Pipe _input;   // network → application; the ring thread is its writer
    private readonly Pipe _output;  // application → network; the ring thread is its reader
    private readonly CancellationTokenSource _connectionClosedTokenSource = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ulong _token;
    private readonly int _fd;
    private IFeatureCollection? _features;
    private IDictionary<object, object?>? _items;
    private Socket? _socket;
    private ConnectionAbortedException? _abortReason;   // set once, from any thread; wins over later errors
    private int _abortKind;                             // AbortWithRst or AbortWithFin, set (once) before _abortReason
    private int _connectionClosedFired;

    /// <summary>Creates the connection on its ring thread and starts receiving and sending.</summary>
    public RingConnection(RingThread ring, int fd, AddressFamily family, ConnectionSettings settings)
    {
        _ring = ring;
        _fd = fd;
        _family = family;
        _settings = settings;
        ConnectionId = ConnectionIdGenerator.Next();

        if (settings.NoDelay && family is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
        {
            int one = 1;
            unsafe { Libc.setsockopt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, &one, sizeof(int)); }
        }
        ring.Counters.OtherSyscalls += 3; // setsockopt, getsockname, getpeername
        ring.Counters.ConnectionsOpened++;
        // Read both addresses now: after close the fd number may belong to someone else.
        LocalEndPoint = SocketAddressCodec.GetLocal(fd, family);
        RemoteEndPoint = SocketAddressCodec.GetRemote(fd, family);

        _input = new Pipe(settings.InputOptions(ring));
        _output = new Pipe(settings.OutputOptions(ring));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        ConnectionClosed = _connectionClosedTokenSource.Token;

        _onFlushCompleted = OnFlushCompleted;
        _onOutputReadCompleted = OnOutputReadCompleted;
        _token = ring.Register(this);
        settings.OnConnectionOpened();
        ArmReceive();
        ReadOutput();
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features => _features ??= CreateFeatures();

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool => _settings.MemoryPool;

    /// <summary>The ring thread serving this connection.</summary>
    internal RingThread RingThread => _ring;

    /// <summary>Completes when the socket is closed and no operation of it is in flight.</summary>
    internal Task Closed => _closed.Task;

    /// <summary>
    /// A Socket over the same fd that does not own it, for reading and setting socket options. Disposing it
    /// does not close the connection.
    /// </summary>
    public Socket Socket => _socket ??= new Socket(new SafeSocketHandle(_fd, ownsHandle: false));

    private IFeatureCollection CreateFeatures()
    {
        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        features.Set<IConnectionSocketFeature>(this);
        return features;
    }

    /// <summary>
    /// Closes the connection and drops pending output. With a reason the socket is reset (RST); without one
    /// (Kestrel's Abort(null), e.g. after the client's FIN) it is closed gracefully (FIN), as Kestrel's Sockets
    /// transport does. Idempotent, thread-safe, never throws.
    /// </summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.CompareExchange(ref _abortKind, abortReason is null ? AbortWithFin : AbortWithRst, 0) != 0)
        {
            return;
        }
        Volatile.Write(ref _abortReason, abortReason ?? new ConnectionAbortedException("The connection was closed by the application."));
        // Ends a ReadAsync of the output that is waiting (or the next one).
        _output.Reader.CancelPendingRead();
        _ring.Post(static s => ((RingConnection)s!).AbortOnRing(), this);
    }

    public override void Abort() => Abort(new ConnectionAbortedException("The connection was aborted by the application via ConnectionContext.Abort()."));

    public override async ValueTask DisposeAsync()
    {
        // Completing the application's ends lets the send side finish (FIN after the last byte) and close.
        _input.Reader.Complete();
        _output.Writer.Complete();
        await _closed.Task.ConfigureAwait(false);
        _socket?.Dispose();
    }

    void IRingOperationOwner.OnCompletion(byte operation, int result, uint flags)
    {
        switch (operation)
        {
            case OpRecv:
                OnReceiveCompleted(result, flags);
                break;
            case OpSend:
                OnSendCompleted(result);
                break;
        }
    }

    void IRingOperationOwner.OnRingStopping() =>
        Abort(new ConnectionAbortedException("The RingCore transport is shutting down."));

    /// <summary>Fires ConnectionClosed once, on the thread pool, never inline.</summary>
    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _connectionClosedFired, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static cts => cts.Cancel(), _connectionClosedTokenSource, preferLocal: false);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    private sealed class ConnectionItems : Dictionary<object, object?>;
}
