using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Connections;
using RingCore.Transport.Outbound;

namespace RingCore.Transport;

/// <summary>
/// Outbound connections on RingCore's rings: an <see cref="IConnectionFactory"/> whose connections are ring
/// connections like accepted ones (multishot receive, vectored send, FIN and RST as the listener's), on the same
/// ring threads as the host's listeners when the host uses <c>UseRingCore()</c>. Register it with
/// <c>services.AddRingCoreConnectionFactory()</c>, or create one for a program without a host. HttpClient uses it
/// through <c>new SocketsHttpHandler().UseRingCore(factory)</c>.
/// </summary>
/// <remarks>
/// The rings are acquired at the first connect and held until the factory is disposed. When io_uring is
/// unavailable and <see cref="RingCoreTransportOptions.WhenUnavailable"/> says FallBackToSockets, connections are
/// made with <see cref="Socket"/> instead (the same single warning as the listener). Completing a connection's
/// output sends FIN and leaves its input open until the peer ends (half-close, as Socket.Shutdown(Send)); the
/// application's code that reads a connection runs on the thread pool whatever
/// <see cref="RingCoreTransportOptions.ApplicationScheduling"/> says.
/// </remarks>
public sealed class RingCoreConnectionFactory : IConnectionFactory, IAsyncDisposable, IDisposable
{
    private readonly RingCoreRuntime _runtime;
    private readonly bool _ownsRuntime;
    private readonly Lock _lock = new();
    private Task<bool>? _rings; // true: acquired; false: io_uring unavailable, connect with Sockets
    private bool _disposed;

    /// <summary>A factory with rings of its own, for a program without a host.</summary>
    public RingCoreConnectionFactory(RingCoreTransportOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(new RingCoreRuntime(Options.Create(options ?? new RingCoreTransportOptions()), new ServiceCollection().BuildServiceProvider(), loggerFactory), ownsRuntime: true)
    {
    }

    internal RingCoreConnectionFactory(RingCoreRuntime runtime, bool ownsRuntime = false)
    {
        _runtime = runtime;
        _ownsRuntime = ownsRuntime;
    }

    /// <summary>
    /// Outbound connections open on the rings right now (connections made with Socket after a fallback are not
    /// counted). A connection counts until its ConnectionContext is disposed and its socket closed.
    /// </summary>
    public long ActiveConnections => _runtime.OutboundSettingsIfCreated?.ActiveConnections ?? 0;

    internal RingCoreRuntime Runtime => _runtime;

    /// <summary>
    /// Connects to an <see cref="IPEndPoint"/>, a <see cref="DnsEndPoint"/> (resolved, then its addresses tried in
    /// order until one accepts) or a <see cref="UnixDomainSocketEndPoint"/>. Fails as Socket.ConnectAsync does: a
    /// <see cref="SocketException"/> with the same <see cref="SocketError"/> and the endpoint in its message, or an
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires (the connect in flight
    /// is cancelled in the kernel and nothing is left behind).
    /// </summary>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        cancellationToken.ThrowIfCancellationRequested();
        if (!await AcquireRingsAsync().ConfigureAwait(false))
        {
            return await SocketFallbackConnection.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }
        return await EndPointConnector.ConnectAsync(endpoint,
            (address, token) => ConnectOperation.ConnectAsync(_runtime.Group.NextForHandOff(), address, _runtime.OutboundSettings(), token),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The rings, acquired once for the life of this factory; false when io_uring is unavailable.</summary>
    private Task<bool> AcquireRingsAsync()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Starting the ring threads waits for their rings: not on the caller's thread if it is a ring's.
            return _rings ??= Task.Run(_runtime.TryAcquireRings);
        }
    }

    /// <summary>Releases the rings (stopping them when no listener uses them, which aborts the connections still open).</summary>
    public async ValueTask DisposeAsync()
    {
        Task<bool>? rings;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            rings = _rings;
        }
        if (rings is not null)
        {
            await ((Task)rings).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        if (rings is { IsCompletedSuccessfully: true, Result: true })
        {
            // Stopping the rings aborts the connections still open on them.
            await _runtime.ReleaseRingsAsync().ConfigureAwait(false);
        }
        if (_ownsRuntime)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>As <see cref="DisposeAsync"/> (a DI container disposes synchronously); waits at most the rings' stop bound.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
