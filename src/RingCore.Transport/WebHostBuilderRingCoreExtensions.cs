using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RingCore.Transport;
using RingCore.Transport.Listening;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Turns on the RingCore io_uring transport for Kestrel.</summary>
public static class WebHostBuilderRingCoreExtensions
{
    /// <summary>
    /// Serves Kestrel's endpoints over io_uring. Works on <c>builder.WebHost</c> of a WebApplicationBuilder and on
    /// any <see cref="IWebHostBuilder"/>. When io_uring is unavailable it falls back to Kestrel's Sockets
    /// transport with one warning (see <see cref="RingCoreTransportOptions.WhenUnavailable"/>).
    /// </summary>
    public static IWebHostBuilder UseRingCore(this IWebHostBuilder hostBuilder) => hostBuilder.UseRingCore(static _ => { });

    /// <summary>As <see cref="UseRingCore(IWebHostBuilder)"/>, with options.</summary>
    public static IWebHostBuilder UseRingCore(this IWebHostBuilder hostBuilder, Action<RingCoreTransportOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        ArgumentNullException.ThrowIfNull(configureOptions);
        return hostBuilder.ConfigureServices(services =>
        {
            services.Configure(configureOptions);
            services.TryAddSingleton<RingCoreRuntime>();
            // AddSingleton, not TryAdd: Kestrel picks the factory registered last that can bind the endpoint.
            services.AddSingleton<IConnectionListenerFactory, RingCoreTransportFactory>();
        });
    }
}
