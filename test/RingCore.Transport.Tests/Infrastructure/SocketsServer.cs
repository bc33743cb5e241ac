using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// Kestrel on its own Sockets transport, built like <see cref="RingServer"/> (Debug logs captured), so a test can
/// run the same client against both transports and compare what goes on the wire and what gets logged.
/// </summary>
public sealed class SocketsServer : ITestServer
{
    private readonly IHost _host;

    private SocketsServer(IHost host, LogCapture logs, int port)
    {
        _host = host;
        Logs = logs;
        Port = port;
    }

    public LogCapture Logs { get; }

    public int Port { get; }

    public IPEndPoint LoopbackEndPoint => new(IPAddress.Loopback, Port);

    public string TransportLogCategory => "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";

    /// <summary>Listens on 127.0.0.1:0 with <paramref name="configureListen"/> applied to the endpoint.</summary>
    public static async Task<SocketsServer> StartAsync(Action<IApplicationBuilder> configureApp, Action<ListenOptions>? configureListen = null)
    {
        var logs = new LogCapture();
        int port;
        IHost host = new HostBuilder()
            .ConfigureLogging(logging =>
            {
                logging.ClearProviders();
                logging.SetMinimumLevel(LogLevel.Debug);
                logging.AddProvider(logs);
            })
            .ConfigureWebHost(web => web
                .UseKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => configureListen?.Invoke(listen)))
                .Configure(configureApp))
            .Build();
        try
        {
            await host.StartAsync();
            var addresses = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            port = new Uri(addresses.First()).Port;
        }
        catch
        {
            host.Dispose();
            throw;
        }
        return new SocketsServer(host, logs, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>What a side-by-side test needs of a Kestrel host, whichever transport serves it.</summary>
public interface ITestServer : IAsyncDisposable
{
    LogCapture Logs { get; }

    IPEndPoint LoopbackEndPoint { get; }

    /// <summary>The logging category of the transport's connection events (FIN, RST, pause...).</summary>
    string TransportLogCategory { get; }
}
