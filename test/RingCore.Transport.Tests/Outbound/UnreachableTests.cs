using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Outbound;

/// <summary>
/// Addresses that cannot be reached, compared with a plain SocketsHttpHandler in the same process:
/// test/RingCore.FallbackProbe runs in a network namespace of its own (<c>unshare -n</c>, root) that has only lo and
/// one route, 198.51.100.0/24 through lo. A SYN to 198.51.100.2 goes out and is dropped (the address is nobody's and
/// nothing forwards it), as on a network that silently drops: only a connect timeout ends the attempt. 192.0.2.55 has
/// no route at all: connect fails at once with ENETUNREACH.
/// </summary>
public sealed class UnreachableTests
{
    private const string Setup = "ip link set lo up && ip route add 198.51.100.0/24 dev lo";

    [TheoryNeedingNetworkNamespace(Timeout = 120_000)]
    [InlineData("http://198.51.100.2:80/", 500)] // unroutable: SYNs dropped, ended by ConnectTimeout
    [InlineData("http://192.0.2.55:80/", 0)]     // no route: NetworkUnreachable at once
    public async Task An_unreachable_address_fails_as_with_a_plain_SocketsHttpHandler_and_leaves_no_connection(string url, int connectTimeoutMs)
    {
        NetworkNamespace.AssertAvailable();
        string[] args = ["--outbound-request", url, "--outbound-compare-sockets", "on", .. connectTimeoutMs > 0 ? new[] { "--outbound-connect-timeout-ms", connectTimeoutMs.ToString() } : []];
        await using var probe = ProbeProcess.Start("none", "Throw", args, launcher: NetworkNamespace.LauncherWith(Setup));
        await probe.WaitUntilListeningAsync();

        string ours = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-REQUEST ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        string plain = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-REQUEST-SOCKETS ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        string connections = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-CONNECTIONS ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        string socketsBefore = await probe.WaitForLineAsync(l => l.StartsWith("OUTBOUND-SOCKETS-BEFORE ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        // "FAILED: <exception> <HttpRequestError> <inner exception> [<SocketError>]: <message>"
        static string Kind(string line) => line[(line.IndexOf(' ') + 1)..line.IndexOf(": ", line.IndexOf("FAILED: ", StringComparison.Ordinal) + 8, StringComparison.Ordinal)];
        Assert.StartsWith("OUTBOUND-REQUEST FAILED: ", ours);
        Assert.StartsWith("OUTBOUND-REQUEST-SOCKETS FAILED: ", plain);
        Assert.Equal(Kind(plain), Kind(ours));
        if (connectTimeoutMs == 0)
        {
            Assert.Equal("FAILED: HttpRequestException ConnectionError SocketException NetworkUnreachable", Kind(ours));
        }
        else
        {
            Assert.Equal("FAILED: TaskCanceledException TimeoutException", Kind(ours)); // HttpClient's way to report ConnectTimeout
        }
        // The endpoint is in the message when the plain handler puts it there (not in a connect timeout's).
        Assert.Equal(plain.Contains(new Uri(url).Authority, StringComparison.Ordinal), ours.Contains(new Uri(url).Authority, StringComparison.Ordinal));
        Assert.True(ours.Contains(new Uri(url).Authority, StringComparison.Ordinal) || connectTimeoutMs > 0, ours);
        Assert.Equal("OUTBOUND-CONNECTIONS 0", connections);
        // Both attempts' sockets are closed (ours once its cancelled connect SQE has completed).
        await probe.WaitForSocketCountAsync(int.Parse(socketsBefore["OUTBOUND-SOCKETS-BEFORE ".Length..]), TimeSpan.FromSeconds(30));

        await probe.CloseStdinAndAssertCleanExitAsync();
    }
}
