// A YARP reverse proxy on RingCore in both directions: Kestrel accepts on the rings, and YARP's HttpClient
// connects to the backend on the same rings (RingCoreConnectionFactory through SocketsHttpHandler.ConnectCallback).
//   dotnet run -c Release --project samples/RingCore.ProxySample -- --urls http://127.0.0.1:5000 --backend http://127.0.0.1:5001
//   [--transport ringcore|sockets]: the listener side;  [--outbound ringcore|sockets]: the backend side
//   (both default to ringcore; sockets runs that side on Kestrel's Sockets transport / a plain SocketsHttpHandler).
// Every path is forwarded to the backend except GET /_proxy, which describes the proxy itself.
using Microsoft.Extensions.DependencyInjection.Extensions;
using RingCore.ProxySample;
using RingCore.Transport;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("RingCore.Transport", LogLevel.Information);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);

string inbound = builder.Configuration["transport"] ?? "ringcore";
string outbound = builder.Configuration["outbound"] ?? "ringcore";
string backend = builder.Configuration["backend"] ?? "http://127.0.0.1:5001";
if (inbound is not ("ringcore" or "sockets") || outbound is not ("ringcore" or "sockets"))
{
    Console.Error.WriteLine($"Unknown --transport '{inbound}' or --outbound '{outbound}': use ringcore or sockets.");
    return 2;
}
if (!Uri.TryCreate(backend, UriKind.Absolute, out Uri? backendUri) || backendUri.Scheme is not ("http" or "https"))
{
    Console.Error.WriteLine($"--backend '{backend}' is not an http:// or https:// URL.");
    return 2;
}

if (inbound == "ringcore")
{
    builder.WebHost.UseRingCore();
}
if (outbound == "ringcore")
{
    // Shares the listener's rings when both sides are on RingCore (one RingCoreRuntime per host).
    builder.Services.AddRingCoreConnectionFactory();
    builder.Services.Replace(ServiceDescriptor.Singleton<IForwarderHttpClientFactory, RingCoreForwarderHttpClientFactory>());
}
builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = null); // a proxy passes bodies on; the backend decides

builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig
    {
        ClusterId = "backend",
        Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = backendUri.ToString() } },
    }]);

var app = builder.Build();

// GET /_proxy: which transport each side runs on, and the outbound connections open on the rings now.
app.MapGet("/_proxy", (IServiceProvider services) => Results.Json(new ProxyInfo(
    inbound,
    outbound,
    backendUri.ToString(),
    services.GetService<RingCoreConnectionFactory>()?.ActiveConnections ?? -1), ProxyJsonContext.Default.ProxyInfo));
app.MapReverseProxy();

app.Run();
return 0;

internal sealed record ProxyInfo(string transport, string outbound, string backend, long outboundConnectionsOnRings);

[System.Text.Json.Serialization.JsonSerializable(typeof(ProxyInfo))]
internal sealed partial class ProxyJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
