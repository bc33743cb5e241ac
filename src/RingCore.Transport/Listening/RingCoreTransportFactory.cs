using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RingCore.Transport.Connections;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Listening;

/// <summary>
/// Kestrel's entry point into the transport. The first bind starts the ring threads (shared with outbound
/// connections through <see cref="RingCoreRuntime"/>); if io_uring cannot be had, it either falls back to Kestrel's
/// Sockets transport (one warning, for the life of the host) or fails startup, as the options say.
/// </summary>
internal sealed class RingCoreTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly RingCoreRuntime _runtime;
    private readonly Lock _lock = new();
    private SocketTransportFactory? _fallback;

    public RingCoreTransportFactory(RingCoreRuntime runtime) => _runtime = runtime;

    /// <summary>Settings shared by this factory's connections (null before the first io_uring bind).</summary>
    internal ConnectionSettings? ConnectionSettings => _runtime.InboundSettingsIfCreated;

    internal RingThreadGroup Group => _runtime.Group;

    /// <summary>This factory's instruments (totals readable after the host stopped).</summary>
    internal TransportMetrics Metrics => _runtime.Metrics;

    public bool CanBind(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => ip.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6,
        UnixDomainSocketEndPoint => true,
        FileHandleEndPoint => true,
        _ => false,
    };

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (!_runtime.TryAcquireRings())
        {
            return await SocketsFallback().BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }

        RingConnectionListener listener;
        try
        {
            listener = RingConnectionListener.Bind(endpoint, _runtime.Group, _runtime.InboundSettings(), _runtime.Options.Backlog);
        }
        catch
        {
            await _runtime.ReleaseRingsAsync().ConfigureAwait(false);
            throw;
        }
        try
        {
            _runtime.Log.Listening(listener.EndPoint.ToString() ?? endpoint.ToString()!, _runtime.Group.NameRings());
        }
        catch
        {
            // A logging provider that throws must not cost a bound listener.
        }
        return listener;
    }

    private SocketTransportFactory SocketsFallback()
    {
        lock (_lock)
        {
            return _fallback ??= new SocketTransportFactory(
                _runtime.Services.GetService<IOptions<SocketTransportOptions>>() ?? Options.Create(new SocketTransportOptions()),
                _runtime.LoggerFactory);
        }
    }
}
