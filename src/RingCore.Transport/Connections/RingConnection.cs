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
/// One connected socket (accepted, or opened by the connection factory) served by one ring thread for its whole life. This file is the face Kestrel sees
/// (ConnectionContext and its features, Abort, DisposeAsync) and the dispatch of ring events; the ring-side work
/// is in RingConnection.Receive.cs, RingConnection.Send.cs and RingConnection.Close.cs.
/// </summary>
/// <remarks>
/// State, all owned by the ring thread except where noted:
/// - receive: <see cref="ReceiveState"/> (what we want) plus <c>_recvInFlight</c> (the kernel holds our recv) and
///   <c>_peerEndWatchInFlight</c> (the kernel holds the poll that reports the peer's FIN or reset);
/// - send: <see cref="SendState"/> (Sending means one send is in the kernel);
/// - close: <see cref="CloseState"/>; the fd is released only in Closing with nothing in flight, and that is
///   checked in one place, <see cref="AfterEvent"/>, at the end of every event the ring delivers to us;
/// - abort (any thread): <c>_abortKind</c> then <c>_abortReason</c>, set once; the socket is reset or shut down
///   on the calling thread at once, through the reference-counted <see cref="RingSocketHandle"/>.
/// </remarks>
internal sealed partial class RingConnection : ConnectionContext, IRingOperationOwner, IStarvedReceiver,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IConnectionSocketFeature
{
    private const byte OpRecv = 1;
    private const byte OpSend = 2;
    private const byte OpPeerEndWatch = 3;
    private const int AbortWithRst = 1;
    private const int AbortWithFin = 2;

    private readonly RingThread _ringThread;
    private readonly ConnectionSettings _settings;
    private readonly AddressFamily _family;
    private readonly Pipe _input;   // network → application; the ring thread is its writer
    private readonly Pipe _output;  // application → network; the ring thread is its reader
    private readonly CancellationTokenSource _connectionClosedTokenSource = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ulong _token;
    private readonly RingSocketHandle _handle;
    private readonly int _fd;                           // _handle's fd, for SQEs; valid until the close completes
    private IFeatureCollection? _features;
    private IDictionary<object, object?>? _items;
    private Socket? _socket;
    private ConnectionAbortedException? _abortReason;   // set once, from any thread; wins over later errors
    private int _abortKind;                             // AbortWithRst or AbortWithFin, set (once) before _abortReason
    private int _connectionClosedFired;
    private int _faulted;

    /// <summary>
    /// Creates the connection on its ring thread and starts receiving and sending. <paramref name="setNoDelay"/>:
    /// set TCP_NODELAY on a TCP socket (false when it already has it from its listener).
    /// </summary>
    public RingConnection(RingThread ring, int fd, AddressFamily family, ConnectionSettings settings, bool setNoDelay)
    {
        _ringThread = ring;
        _fd = fd;
        _handle = new RingSocketHandle(fd);
        _family = family;
        _settings = settings;
        ConnectionId = ConnectionIdGenerator.Next();

        if (setNoDelay && IsTcp)
        {
            int one = 1;
            unsafe { Libc.setsockopt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, &one, sizeof(int)); }
            ring.Counters.OtherSyscalls++;
        }
        ring.Counters.OtherSyscalls += 2; // getsockname, getpeername
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
        ArmPeerEndWatch();
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
    internal RingThread RingThread => _ringThread;

    /// <summary>Completes when the socket is closed and no operation of it is in flight.</summary>
    internal Task Closed => _closed.Task;

    private bool IsTcp => _family is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;

    /// <summary>
    /// A Socket for reading and setting socket options. It owns a duplicate of the connection's fd, so it can
    /// never reach another file that later gets the connection's fd number; disposing it does not close the
    /// connection. Throws <see cref="ObjectDisposedException"/> once the connection's socket is closed.
    /// </summary>
    public Socket Socket
    {
        get
        {
            if (Volatile.Read(ref _socket) is Socket existing)
            {
                return existing;
            }
            int duplicate = _handle.TryDuplicate();
            if (duplicate < 0)
            {
                throw new ObjectDisposedException(nameof(Socket), $"Connection {ConnectionId} is closed.");
            }
            var socket = new Socket(new SafeSocketHandle(duplicate, ownsHandle: true));
            Socket? winner = Interlocked.CompareExchange(ref _socket, socket, null);
            if (winner is not null)
            {
                socket.Dispose();
                return winner;
            }
            return socket;
        }
    }

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
    /// Closes the connection and drops pending output. With a reason the socket is reset (RST), unless Kestrel's
    /// FinOnError switch is on; without one (Kestrel's Abort(null), e.g. after the client's FIN) it is closed
    /// gracefully (FIN), as Kestrel's Sockets transport does. Takes effect on the socket at once, from the calling
    /// thread, even while the ring thread is busy; the ring finishes the bookkeeping. Idempotent, thread-safe,
    /// never throws.
    /// </summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        bool reset = abortReason is not null && !_settings.FinOnError;
        if (Interlocked.CompareExchange(ref _abortKind, reset ? AbortWithRst : AbortWithFin, 0) != 0)
        {
            return;
        }
        ConnectionAbortedException reason = abortReason ?? new ConnectionAbortedException("The connection was closed by the application.");
        Volatile.Write(ref _abortReason, reason);
        _handle.TryEndNow(reset, IsTcp);
        // Ends a ReadAsync of the output that is waiting (or the next one).
        _output.Reader.CancelPendingRead();
        _ringThread.Post(static s => ((RingConnection)s!).OnAbortPosted(), this);
        // Logged only once the abort has taken effect: a slow or throwing logging provider must not delay or stop it.
        try
        {
            if (reset)
            {
                _settings.Log.ConnectionWriteRst(ConnectionId, reason.Message);
            }
            else
            {
                _settings.Log.ConnectionWriteFin(ConnectionId, reason.Message);
            }
        }
        catch
        {
            // A logging provider that throws must not make Abort throw.
        }
    }

    public override void Abort() => Abort(new ConnectionAbortedException("The connection was aborted by the application via ConnectionContext.Abort()."));

    public override async ValueTask DisposeAsync()
    {
        // Completing the application's ends lets the send side finish (FIN after the last byte) and close.
        _disposing = true; // before the output completes: its send side must close, not half-close
        _input.Reader.Complete();
        _output.Writer.Complete();
        if (_settings.HalfCloseOnOutputEnd)
        {
            // The ring learns that the input reader completed only from its next flush; a half-closed connection
            // may never see one.
            _ringThread.Post(static s => ((RingConnection)s!).OnDisposePosted(), this);
        }
        await _closed.Task.ConfigureAwait(false);
        Volatile.Read(ref _socket)?.Dispose();
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
            case OpPeerEndWatch:
                OnPeerEndWatchCompleted(result);
                break;
        }
        AfterEvent();
    }

    void IRingOperationOwner.OnRingStopping() =>
        Abort(new ConnectionAbortedException("The RingCore transport is shutting down."));

    void IStarvedReceiver.ResumeReceive()
    {
        try
        {
            ResumeAfterStarvation();
        }
        catch (Exception ex)
        {
            ((IRingOperationOwner)this).OnFault(ex);
        }
    }

    /// <summary>
    /// An exception escaped one of this connection's handlers: end this connection (logged once), leave every
    /// other connection of the ring alone. The in-flight bookkeeping was updated before anything that can throw,
    /// so the close still waits for exactly the operations the kernel holds.
    /// </summary>
    void IRingOperationOwner.OnFault(Exception exception)
    {
        if (Interlocked.Exchange(ref _faulted, 1) == 0)
        {
            try
            {
                _settings.Log.ConnectionFaulted(ConnectionId, exception);
            }
            catch
            {
                // The logging provider may be what threw in the first place.
            }
        }
        Abort(new ConnectionAbortedException("The connection failed inside the RingCore transport.", exception));
        try
        {
            BeginClose(null);
            AfterEvent();
        }
        catch
        {
            // Nothing more can be done on this ring for this connection; the others carry on.
        }
    }

    string IRingOperationOwner.DescribeForDiagnostics() =>
        $"connection {ConnectionId}: close {_close}, receive {_receive}{(_recvInFlight ? " (recv in flight)" : "")}" +
        $"{(_peerEndWatchInFlight ? " (peer-end poll in flight)" : "")}, send {_send}";

    void IRingOperationOwner.OnRingFailed(Exception exception)
    {
        try
        {
            FailWithRing(exception);
        }
        catch
        {
            // The ring is going away; every other owner must still be told.
        }
    }

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
