using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace RingCore.Transport.Outbound;

/// <summary>
/// An outbound connection over a plain <see cref="Socket"/>, for when io_uring is unavailable: the same pipes and
/// the same half-close as a ring connection (completing the output sends FIN; the input runs until the peer
/// ends), two loops that move bytes between the pipes and the socket.
/// </summary>
internal sealed class SocketFallbackConnection : ConnectionContext, IConnectionSocketFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    private readonly Socket _socket;
    private readonly Pipe _input = new(new PipeOptions(useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(useSynchronizationContext: false));
    private readonly CancellationTokenSource _closed = new();
    private readonly Task _receiving;
    private readonly Task _sending;

    private SocketFallbackConnection(Socket socket)
    {
        _socket = socket;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        ConnectionClosed = _closed.Token;
        Features.Set<IConnectionSocketFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public static Task<SocketFallbackConnection> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken) =>
        EndPointConnector.ConnectAsync(endpoint, ConnectOneAsync, cancellationToken);

    private static async Task<SocketFallbackConnection> ConnectOneAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream,
            endpoint.AddressFamily == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = true;
            }
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new SocketFallbackConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override string ConnectionId { get; set; } = Guid.NewGuid().ToString("N");

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public Socket Socket => _socket;

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                Memory<byte> buffer = _input.Writer.GetMemory(4096);
                int received = await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    break;
                }
                _input.Writer.Advance(received);
                FlushResult flushed = await _input.Writer.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.OperationAborted or SocketError.Shutdown)
        {
            error = new ConnectionResetException(ex.Message, ex);
        }
        catch (Exception ex)
        {
            error = ex;
        }
        await _input.Writer.CompleteAsync(error).ConfigureAwait(false);
        ThreadPool.UnsafeQueueUserWorkItem(static cts => cts.Cancel(), _closed, preferLocal: false);
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await _output.Reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                }
                _output.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
            _socket.Shutdown(SocketShutdown.Send); // FIN; the receive loop runs until the peer ends too
        }
        catch (Exception ex)
        {
            error = ex;
        }
        await _output.Reader.CompleteAsync(error).ConfigureAwait(false);
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose(); // with linger 0: RST; ends both loops
        _output.Reader.CancelPendingRead();
    }

    public override async ValueTask DisposeAsync()
    {
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await _sending.ConfigureAwait(false);
        _socket.Dispose(); // ends the receive loop if the peer has not
        await _receiving.ConfigureAwait(false);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
