using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Outbound;

/// <summary>
/// A host name with several addresses where the first refuses, resolved by the real resolver: test/RingCore.FallbackProbe
/// runs in its own mount namespace (<c>unshare -m</c>, root) whose /etc/hosts gives the name ::1 and 127.0.0.1. The
/// resolver puts ::1 first (RFC 6724: higher precedence); nothing listens on ::1 at the backend's port, so that
/// connect is refused and the factory goes on to 127.0.0.1, as Socket.ConnectAsync(DnsEndPoint) does.
/// </summary>
public sealed class DnsResolutionTests
{
    private const string Name = "multi.ringcore.test";

    [FactNeedingNetworkNamespace(Timeout = 120_000)] // root, as for network namespaces: it makes a mount namespace
    public async Task A_name_whose_first_address_refuses_is_reached_at_its_next_address()
    {
        NetworkNamespace.AssertAvailable();
        await using SocketsServer backend = await SocketsServer.StartAsync(app => app.Run(
            context => context.Response.WriteAsync($"from {context.Connection.RemoteIpAddress}")));
        string hosts = Path.Combine(Path.GetTempPath(), $"ringcore-hosts-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(hosts, $"127.0.0.1 localhost\n::1 {Name}\n127.0.0.1 {Name}\n");
        try
        {
            // The bind mount lives and dies with the probe's private mount namespace.
            string[] launcher = ["unshare", "-m", "--", "sh", "-c", $"mount --bind '{hosts}' /etc/hosts && exec \"$0\" \"$@\""];
            await using var probe = ProbeProcess.Start("none", "Throw", ["--outbound-request", $"http://{Name}:{backend.Port}/"], launcher: launcher);
            await probe.WaitUntilListeningAsync();

            string resolved = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-RESOLVED", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.Equal("OUTBOUND-RESOLVED ::1,127.0.0.1", resolved); // else the first address is not the refusing one
            string outbound = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-REQUEST", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.Equal("OUTBOUND-REQUEST 200 from 127.0.0.1", outbound);
            Assert.Equal(2, probe.IoUringFdCount()); // on the rings, not a fallback

            await probe.CloseStdinAndAssertCleanExitAsync();
        }
        finally
        {
            File.Delete(hosts);
        }
    }
}
