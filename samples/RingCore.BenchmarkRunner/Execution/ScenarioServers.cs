using RingCore.BenchmarkRunner.Model;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// One sample-app server per transport for one scenario, all started before its first round and kept up until its
/// last: every transport's runs then see the same machine (the other servers idle beside it), whatever the order.
/// Proxied and idle-connection scenarios start their own servers per run.
/// </summary>
internal sealed class ScenarioServers : IAsyncDisposable
{
    private readonly Dictionary<string, ServerProcess> _servers = [];

    public static bool AppliesTo(Scenario scenario) => !scenario.Proxied && scenario.Client != LoadClient.IdleConnections;

    public static async Task<ScenarioServers> StartAsync(Scenario scenario, IEnumerable<string> transports, Func<string, Task<ServerProcess>> start)
    {
        var set = new ScenarioServers();
        try
        {
            foreach (string transport in transports)
            {
                set._servers[transport] = await start(transport);
            }
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
        return set;
    }

    public ServerProcess this[string transport] => _servers[transport];

    public async ValueTask DisposeAsync()
    {
        foreach (ServerProcess server in _servers.Values)
        {
            await server.DisposeAsync();
        }
        _servers.Clear();
    }
}
