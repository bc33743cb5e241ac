using System.Buffers;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RingCore.Transport.Connections;
using RingCore.Transport.Ring;
using RingCore.Transport.Threading;

namespace RingCore.Transport;

/// <summary>
/// What one host's RingCore shares between its listeners (Kestrel's side) and its outbound connections (the
/// connection factory, HttpClient): the ring threads, their instruments, the memory pool, the settings of each kind
/// of connection and the decision, made once, whether io_uring can be had at all. A DI singleton; the listener
/// factory and the connection factory each acquire the rings while they use them, so the threads run while either
/// needs them and stop when neither does.
/// </summary>
internal sealed class RingCoreRuntime : IAsyncDisposable, IDisposable
{
    private readonly IServiceProvider _services;
    private readonly Lock _lock = new();
    private MemoryPool<byte>? _memoryPool;
    private ConnectionSettings? _inbound;
    private ConnectionSettings? _outbound;
    private RingSetDecision? _decision;
    private bool _unavailable;
    private int _disposed;

    public RingCoreRuntime(IOptions<RingCoreTransportOptions> options, IServiceProvider services, ILoggerFactory? loggerFactory = null)
    {
        Options = options.Value;
        Options.Validate();
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _services = services;
        Log = new RingCoreLog(LoggerFactory.CreateLogger(RingCoreLog.Category));
        // The host's meter factory scopes the meter to this host (tests, OpenTelemetry); hosts have one by default.
        Metrics = TransportMetrics.Create(services.GetService<IMeterFactory>());
    }

    /// <summary>Where accepted connections run application code (see <see cref="ChooseInboundScheduling"/>).</summary>
    public RingCoreApplicationScheduling InboundScheduling => Decision.InboundScheduling;

    public RingCoreTransportOptions Options { get; }

    public ILoggerFactory LoggerFactory { get; }

    public IServiceProvider Services => _services;

    public RingCoreLog Log { get; }

    public TransportMetrics Metrics { get; }

    /// <summary>The ring threads; their number follows where application code runs.</summary>
    public RingThreadGroup Group => Decision.Group;

    /// <summary>Where inbound application code runs and the ring set that follows from it: decided together, once.</summary>
    private sealed record RingSetDecision(RingCoreApplicationScheduling InboundScheduling, RingThreadGroup Group);

    /// <summary>
    /// Made on first use (the first bind or connect), not while the transport is constructed: Kestrel's options are
    /// read then, once the host has configured them, and outside the lock, since resolving them runs the app's
    /// ConfigureKestrel callbacks. Making the group starts no thread, so a losing race costs nothing.
    /// </summary>
    private RingSetDecision Decision
    {
        get
        {
            if (Volatile.Read(ref _decision) is { } decided)
            {
                return decided;
            }
            RingCoreApplicationScheduling scheduling = ChooseInboundScheduling();
            int ringCount = Options.RingThreadCount ?? RingCoreTransportOptions.DefaultRingThreadCount(scheduling, Environment.ProcessorCount);
            var decision = new RingSetDecision(scheduling, new RingThreadGroup(Options, Log, Metrics, ringCount));
            return Interlocked.CompareExchange(ref _decision, decision, null) ?? decision;
        }
    }

    /// <summary>Settings of accepted connections (null before the first io_uring bind).</summary>
    public ConnectionSettings? InboundSettingsIfCreated => _inbound;

    /// <summary>Settings of outbound connections (null before the first io_uring connect).</summary>
    public ConnectionSettings? OutboundSettingsIfCreated => _outbound;

    /// <summary>
    /// Acquires the ring threads for one more user (a listener, or the connection factory); false when io_uring is
    /// unavailable and the options say to fall back to Sockets. The fallback warning is logged once per runtime,
    /// whichever side meets it first. Throws <see cref="RingUnavailableException"/> when the options say Throw.
    /// </summary>
    public bool TryAcquireRings()
    {
        RingThreadGroup group = Group; // made outside the lock: making it may resolve Kestrel's options
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_unavailable)
            {
                return false;
            }
            try
            {
                group.Acquire();
                return true;
            }
            catch (RingUnavailableException ex) when (Options.WhenUnavailable == RingCoreUnavailableBehavior.FallBackToSockets)
            {
                Log.FallingBackToSockets(ex.Message);
                Metrics.OnFallback();
                _unavailable = true;
                return false;
            }
        }
    }

    public Task ReleaseRingsAsync() => Group.ReleaseAsync();

    /// <summary>Accepted connections: scheduled as <see cref="InboundScheduling"/> says.</summary>
    public ConnectionSettings InboundSettings()
    {
        lock (_lock)
        {
            if (_inbound is null && InboundScheduling != Options.ApplicationScheduling)
            {
                // Once, when the first listener binds.
#pragma warning disable CS0618 // the obsolete value is what this reports
                if (Options.ApplicationScheduling == RingCoreApplicationScheduling.Inline)
#pragma warning restore CS0618
                {
                    Log.InlineSchedulingIsThreadPool();
                }
                else
                {
                    Log.SynchronousIoUsesThreadPool();
                }
            }
            return _inbound ??= new ConnectionSettings(Options, InboundScheduling, MemoryPool(), Log, FinOnErrorSwitch.IsEnabled,
                halfCloseOnOutputEnd: false);
        }
    }

    /// <summary>
    /// Outbound connections: always on the thread pool, whatever <see cref="RingCoreTransportOptions.ApplicationScheduling"/>
    /// says (the code that reads them is HttpClient's or the application's, and may read synchronously); completing
    /// the output sends FIN and leaves the input open until the peer ends too (half-close), as a Socket does.
    /// </summary>
    public ConnectionSettings OutboundSettings()
    {
        lock (_lock)
        {
            return _outbound ??= new ConnectionSettings(Options, RingCoreApplicationScheduling.ThreadPool, MemoryPool(), Log, FinOnErrorSwitch.IsEnabled,
                halfCloseOnOutputEnd: true);
        }
    }

    private MemoryPool<byte> MemoryPool() =>
        // Kestrel's pinned block pool when the host has one (it is what its Sockets transport uses).
        _memoryPool ??= _services.GetService<IMemoryPoolFactory<byte>>()?.Create(new MemoryPoolOptions { Owner = "ringcore" })
            ?? MemoryPool<byte>.Shared;

    /// <summary>
    /// ThreadPool unless the options ask for UnsafeInline and Kestrel allows synchronous I/O for the whole server:
    /// a synchronous body read on the ring thread would wait forever for the bytes that thread should receive.
    /// </summary>
    private RingCoreApplicationScheduling ChooseInboundScheduling() =>
        Options.ApplicationScheduling == RingCoreApplicationScheduling.UnsafeInline &&
        _services.GetService<IOptions<KestrelServerOptions>>()?.Value.AllowSynchronousIO != true
            ? RingCoreApplicationScheduling.UnsafeInline
            : RingCoreApplicationScheduling.ThreadPool;

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        lock (_lock)
        {
            if (_memoryPool is not null && !ReferenceEquals(_memoryPool, MemoryPool<byte>.Shared))
            {
                _memoryPool.Dispose();
            }
        }
        Metrics.Dispose();
    }
}
