using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Listening;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// A real Kestrel on the RingCore transport, listening on 127.0.0.1:0 unless told otherwise. Disposing it stops
/// the host and checks that the transport has no connection left open.
/// </summary>
public sealed class RingServer : ITestServer
{
    private readonly IHost _host;

    private RingServer(IHost host, LogCapture logs)
    {
        _host = host;
        Logs = logs;
        Factory = host.Services.GetServices<IConnectionListenerFactory>().OfType<RingCoreTransportFactory>().Single();
        var addresses = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Addresses = addresses.ToArray();
        BaseAddress = new Uri(Addresses[0]);
        Rings = Factory.Group.Threads.ToArray(); // kept: the group forgets its rings when it stops
    }

    public IServiceProvider Services => _host.Services;

    public LogCapture Logs { get; }

    internal RingCoreTransportFactory Factory { get; }

    /// <summary>The ring threads the server started with; their counters still read after the server stopped.</summary>
    internal IReadOnlyList<RingThread> Rings { get; }

    public string[] Addresses { get; }

    /// <summary>The first address Kestrel reports, e.g. http://127.0.0.1:43521.</summary>
    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    public IPEndPoint LoopbackEndPoint => new(IPAddress.Loopback, Port);

    public string TransportLogCategory => RingCoreLog.Category;

    /// <summary>Connections the transport holds open right now.</summary>
    public long ActiveConnections => Factory.ConnectionSettings?.ActiveConnections ?? 0;

    public static Task<RingServer> StartAsync(RequestDelegate app, Action<RingCoreTransportOptions>? configureTransport = null,
        Action<KestrelServerOptions>? configureKestrel = null, Action<IServiceCollection>? configureServices = null) =>
        StartAsync(builder => builder.Run(app), configureTransport, configureKestrel, configureServices);

    public static async Task<RingServer> StartAsync(Action<IApplicationBuilder> configureApp, Action<RingCoreTransportOptions>? configureTransport = null,
        Action<KestrelServerOptions>? configureKestrel = null, Action<IServiceCollection>? configureServices = null)
    {
        var logs = new LogCapture();
        IHost host = new HostBuilder()
            .ConfigureLogging(logging =>
            {
                logging.ClearProviders();
                logging.SetMinimumLevel(LogLevel.Debug);
                logging.AddProvider(logs);
            })
            .ConfigureWebHost(web =>
            {
                web.UseKestrel(options =>
                {
                    if (configureKestrel is null)
                    {
                        options.Listen(IPAddress.Loopback, 0);
                    }
                    else
                    {
                        configureKestrel(options);
                    }
                });
                web.UseRingCore(options =>
                {
                    options.RingThreadCount = 2;
                    options.WhenUnavailable = RingCoreUnavailableBehavior.Throw; // tests must run on io_uring
                    configureTransport?.Invoke(options);
                });
                if (configureServices is not null)
                {
                    web.ConfigureServices(configureServices);
                }
                web.Configure(configureApp);
            })
            .Build();
        try
        {
            await host.StartAsync();
        }
        catch
        {
            host.Dispose(); // a host that failed to start still owns its services
            throw;
        }
        return new RingServer(host, logs);
    }

    /// <summary>Completes when the transport has no open connection (fails after <paramref name="timeout"/>).</summary>
    public Task WaitForNoConnectionsAsync(TimeSpan? timeout = null) => WaitForConnectionsAsync(0, timeout);

    /// <summary>
    /// Completes when the transport holds exactly <paramref name="count"/> connections. The count changes on the ring
    /// threads with no event to await (the product has no test hook for it), so this looks every 5 ms.
    /// </summary>
    public Task WaitForConnectionsAsync(long count, TimeSpan? timeout = null)
    {
        long active = 0;
        return Polling.UntilAsync(() => (active = ActiveConnections) == count, timeout ?? TimeSpan.FromSeconds(20),
            () => $"The transport still holds {active} connection(s); expected {count}.");
    }

    public Task StopAsync() => _host.StopAsync();

    /// <summary>
    /// Set by tests whose handler holds a ring thread on purpose while the host stops (UnsafeInline): only they may
    /// see a ring that did not stop in time (event 10).
    /// </summary>
    public bool ExpectsRingStopTimeout { get; set; }

    /// <summary>
    /// Stops the host and checks that it left nothing: no open connection, no ring thread still owned by this
    /// factory (every listener released its rings), and no ring that failed to stop in time, which would otherwise
    /// surface only in a later test, as a thread nobody can place.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        Assert.Equal(0, ActiveConnections);
        Assert.True(Factory.Group.Threads.Count == 0,
            $"{Factory.Group.Threads.Count} ring thread(s) are still held by this factory after the host stopped: a listener did not release them.");
        if (!ExpectsRingStopTimeout && Logs.Entries.FirstOrDefault(e => e.Category == RingCoreLog.Category && e.EventId.Id == 10) is { } stopTimeout)
        {
            Assert.Fail($"A ring did not stop in time: {stopTimeout.Message}");
        }
    }
}
