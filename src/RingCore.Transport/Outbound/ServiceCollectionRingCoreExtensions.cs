using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RingCore.Transport;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RingCore's outbound connections.</summary>
public static class ServiceCollectionRingCoreExtensions
{
    /// <summary>
    /// Registers <see cref="RingCoreConnectionFactory"/> as a singleton and as the <see cref="IConnectionFactory"/>.
    /// In a host that also calls <c>UseRingCore()</c> the connections run on the listeners' ring threads, and the
    /// options are shared (<paramref name="configureOptions"/> adds to what UseRingCore configures).
    /// </summary>
    public static IServiceCollection AddRingCoreConnectionFactory(this IServiceCollection services, Action<RingCoreTransportOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<RingCoreTransportOptions>();
        if (configureOptions is not null)
        {
            services.Configure(configureOptions);
        }
        services.TryAddSingleton<RingCoreRuntime>();
        services.TryAddSingleton(static sp => new RingCoreConnectionFactory(sp.GetRequiredService<RingCoreRuntime>()));
        services.TryAddSingleton<IConnectionFactory>(static sp => sp.GetRequiredService<RingCoreConnectionFactory>());
        return services;
    }
}
