using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using RingCore.Transport.Connections;
using RingCore.Transport.Interop;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Outbound;

/// <summary>
/// One connect to one address on one ring: the socket is made on the calling thread (so a bad address family or
/// a lack of fds fails right there), the IORING_OP_CONNECT runs on the ring, and on success the connected fd
/// becomes a <see cref="RingConnection"/> on the same ring. Cancelling (the caller's token, or the ring stopping)
/// cancels the SQE; the fd is closed after its final CQE, whatever the outcome, unless it became the connection.
/// </summary>
internal sealed class ConnectOperation : IRingOperationOwner
{
    private const byte OpConnect = 1;

    private readonly RingThread _ringThread;
    private readonly EndPoint _remote;
    private readonly AddressFamily _family;
    private readonly ConnectionSettings _settings;
    private readonly TaskCompletionSource<RingConnection> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationToken _cancellationToken;
    private int _fd;
    private unsafe byte* _address;          // the sockaddr, native: the kernel reads it while the connect runs
    private int _addressLength;
    private ulong _token;
    private bool _inFlight;
    private bool _cancelSent;
    private bool _ringStopping;
    private volatile bool _cancelRequested; // the caller's token fired (any thread)

    private ConnectOperation(RingThread ring, EndPoint remote, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        _ringThread = ring;
        _remote = remote;
        _family = remote.AddressFamily;
        _settings = settings;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Connects to <paramref name="remote"/> (an IP or Unix endpoint) on <paramref name="ring"/>.</summary>
    public static async Task<RingConnection> ConnectAsync(RingThread ring, EndPoint remote, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = new ConnectOperation(ring, remote, settings, cancellationToken);
        operation.OpenSocket();
        // Registered before the start is posted: a cancel posted now runs after the start on the ring, in order.
        using (cancellationToken.UnsafeRegister(static s => ((ConnectOperation)s!).RequestCancel(), operation))
        {
            ring.Post(static s => ((ConnectOperation)s!).StartOnRing(), operation);
            return await operation._result.Task.ConfigureAwait(false);
        }
    }

    private unsafe void OpenSocket()
    {
        int domain = _family switch
        {
            AddressFamily.InterNetwork => Libc.AF_INET,
            AddressFamily.InterNetworkV6 => Libc.AF_INET6,
            AddressFamily.Unix => Libc.AF_UNIX,
            _ => throw new ArgumentException($"RingCore cannot connect to {_family} endpoints.", "endpoint"),
        };
        _fd = Libc.socket(domain, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (_fd < 0)
        {
            throw Failure(Libc.LastErrno);
        }
        byte[] address = SocketAddressCodec.ToNative(_remote);
        _addressLength = address.Length;
        _address = (byte*)NativeMemory.Alloc((nuint)address.Length);
        address.CopyTo(new Span<byte>(_address, address.Length));
    }

    private void RequestCancel()
    {
        _cancelRequested = true;
        _ringThread.Post(static s => ((ConnectOperation)s!).CancelOnRing(), this);
    }

    private unsafe void StartOnRing()
    {
        if (_cancelRequested || _ringThread.IsStopping || !_ringThread.IsAlive)
        {
            Finish(connected: false, _cancelRequested ? null : ShuttingDown());
            return;
        }
        _token = _ringThread.Register(this);
        _inFlight = true;
        SqePrep.PrepConnect(ref _ringThread.Ring.GetSqe(), _fd, _address, _addressLength, OperationTable.UserData(_token, OpConnect));
    }

    private void CancelOnRing()
    {
        if (_inFlight && !_cancelSent)
        {
            _cancelSent = true;
            SqePrep.PrepCancel(ref _ringThread.Ring.GetSqe(), OperationTable.UserData(_token, OpConnect), RingThread.IgnoredUserData);
        }
    }

    public void OnCompletion(byte operation, int result, uint flags)
    {
        _inFlight = false;
        _ringThread.Unregister(_token);
        if (result == 0 && !_cancelRequested && !_ringStopping)
        {
            Finish(connected: true, null);
        }
        else if (result == 0 || result == -Errno.ECANCELED)
        {
            // Connected just as the cancel came, or cancelled: the caller asked to give up, or the ring is stopping.
            Finish(connected: false, _cancelRequested ? null : ShuttingDown());
        }
        else
        {
            Finish(connected: false, Failure(-result));
        }
    }

    /// <summary>Ends the operation once: the connection, or the fd closed and the error (null: cancelled).</summary>
    private unsafe void Finish(bool connected, Exception? error)
    {
        NativeMemory.Free(_address);
        _address = null;
        if (connected)
        {
            RingConnection connection;
            try
            {
                connection = new RingConnection(_ringThread, _fd, _family, _settings, setNoDelay: _settings.NoDelay);
            }
            catch (Exception ex)
            {
                Libc.close(_fd);
                _result.TrySetException(ex);
                return;
            }
            _result.TrySetResult(connection);
            return;
        }
        Libc.close(_fd);
        if (error is null)
        {
            _result.TrySetCanceled(_cancellationToken);
        }
        else
        {
            _result.TrySetException(error);
        }
    }

    /// <summary>As Socket.ConnectAsync reports it: the SocketError .NET maps the errno to, and the endpoint.</summary>
    private SocketException Failure(int errno) =>
        new((int)SocketErrors.ToSocketError(errno), $"{Marshal.GetPInvokeErrorMessage(errno)} {_remote}");

    private SocketException ShuttingDown() =>
        new((int)SocketError.OperationAborted, $"The RingCore transport is shutting down; the connect to {_remote} was cancelled.");

    public void OnRingStopping()
    {
        _ringStopping = true;
        CancelOnRing();
    }

    public unsafe void OnFault(Exception exception)
    {
        // Only OnCompletion and posted work run our code, and the connect's bookkeeping comes first there: close what
        // is still ours and report the error.
        if (!_inFlight && _address is not null)
        {
            NativeMemory.Free(_address);
            _address = null;
            Libc.close(_fd);
        }
        _result.TrySetException(exception);
    }

    public void OnRingFailed(Exception exception)
    {
        // The kernel may still read the address: leave it allocated. The fd is ours to close.
        Libc.close(_fd);
        _result.TrySetException(new SocketException((int)SocketError.OperationAborted, $"The RingCore ring failed while connecting to {_remote}: {exception.Message}"));
    }

    public string DescribeForDiagnostics() => $"connect to {_remote}: {(_inFlight ? "in flight" : "done")}{(_cancelSent ? ", cancel sent" : "")}";
}
