using System.Buffers;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RingCore.Transport.Connections;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Listening;

/// <summary>
/// Kestrel's entry point into the transport. The first bind starts the ring threads; if io_uring cannot be had,
/// it either falls back to Kestrel's Sockets transport (one warning, for the life of this factory) or fails
/// startup, as the options say.
/// </summary>
internal sealed class RingCoreTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IAsyncDisposable
{
    private readonly RingCoreTransportOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly IServiceProvider _services;
    private readonly RingCoreLog _log;
    private readonly RingThreadGroup _group;
    private readonly TransportMetrics _metrics;
    private readonly Lock _lock = new();
    private ConnectionSettings? _connectionSettings;
    private MemoryPool<byte>? _memoryPool;
    private SocketTransportFactory? _fallback;

    public RingCoreTransportFactory(IOptions<RingCoreTransportOptions> options, ILoggerFactory loggerFactory, IServiceProvider services)
    {
        _options = options.Value;
        _options.Validate();
        _loggerFactory = loggerFactory;
        _services = services;
        _log = new RingCoreLog(loggerFactory.CreateLogger(RingCoreLog.Category));
        // The host's meter factory scopes the meter to this host (tests, OpenTelemetry); hosts have one by default.
        _metrics = TransportMetrics.Create(services.GetService<IMeterFactory>());
        _group = new RingThreadGroup(_options, _log, _metrics);
    }

    /// <summary>Settings shared by this factory's connections (null before the first io_uring bind).</summary>
    internal ConnectionSettings? ConnectionSettings => _connectionSettings;

    internal RingThreadGroup Group => _group;

    /// <summary>This factory's instruments (totals readable after the host stopped).</summary>
    internal TransportMetrics Metrics => _metrics;

    public bool CanBind(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => ip.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6,
        UnixDomainSocketEndPoint => true,
        FileHandleEndPoint => true,
        _ => false,
    };

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (!TryAcquireRings())
        {
            return await _fallback!.BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }

        RingConnectionListener listener;
        try
        {
            listener = RingConnectionListener.Bind(endpoint, _group, GetConnectionSettings(), _options.Backlog);
        }
        catch
        {
            await _group.ReleaseAsync().ConfigureAwait(false);
            throw;
        }
        _log.Listening(listener.EndPoint.ToString() ?? endpoint.ToString()!, _group.Threads.Count, Environment.OSVersion.Version.ToString(), _group.Describe());
        return listener;
    }

    /// <summary>Acquires the ring threads for one more listener; false when serving through the fallback.</summary>
    private bool TryAcquireRings()
    {
        lock (_lock)
        {
            if (_fallback is not null)
            {
                return false;
            }
            try
            {
                _group.Acquire();
                return true;
            }
            catch (RingUnavailableException ex) when (_options.WhenUnavailable == RingCoreUnavailableBehavior.FallBackToSockets)
            {
                _log.FallingBackToSockets(ex.Message);
                _metrics.OnFallback();
                _fallback = new SocketTransportFactory(
                    _services.GetService<IOptions<SocketTransportOptions>>() ?? Options.Create(new SocketTransportOptions()),
                    _loggerFactory);
                return false;
            }
        }
    }

    private ConnectionSettings GetConnectionSettings()
    {
        lock (_lock)
        {
            if (_connectionSettings is null)
            {
                // Kestrel's pinned block pool when the host has one (it is what its Sockets transport uses).
                _memoryPool = _services.GetService<IMemoryPoolFactory<byte>>()?.Create(new MemoryPoolOptions { Owner = "ringcore" })
                    ?? MemoryPool<byte>.Shared;
                _connectionSettings = new ConnectionSettings(_options, ChooseScheduling(), _memoryPool, _log, FinOnErrorSwitch.IsEnabled);
            }
            return _connectionSettings;
        }
    }

    private RingCoreApplicationScheduling ChooseScheduling()
    {
        if (_options.ApplicationScheduling == RingCoreApplicationScheduling.UnsafeInline &&
            _services.GetService<IOptions<KestrelServerOptions>>()?.Value.AllowSynchronousIO == true)
        {
            // A synchronous body read or write blocks its thread until the ring moves the bytes; on the ring
            // thread itself that would never happen.
            _log.SynchronousIoUsesThreadPool();
            return RingCoreApplicationScheduling.ThreadPool;
        }
        return _options.ApplicationScheduling;
    }

    public ValueTask DisposeAsync()
    {
        if (_memoryPool is not null && !ReferenceEquals(_memoryPool, MemoryPool<byte>.Shared))
        {
            _memoryPool.Dispose();
        }
        _metrics.Dispose();
        return ValueTask.CompletedTask;
    }
}
