using RingCore.Transport;
using Yarp.ReverseProxy.Forwarder;

namespace RingCore.ProxySample;

/// <summary>
/// YARP's HttpClient factory with one change: every SocketsHttpHandler it builds for a cluster opens its
/// connections through <see cref="RingCoreConnectionFactory"/>, so proxied requests leave on the same rings they
/// arrived on. Everything else (pooling, HTTP/2, TLS to the destination, the cluster's HttpClient settings) is
/// YARP's default.
/// </summary>
internal sealed class RingCoreForwarderHttpClientFactory(RingCoreConnectionFactory connections, ILogger<ForwarderHttpClientFactory> logger)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.UseRingCore(connections);
    }
}
