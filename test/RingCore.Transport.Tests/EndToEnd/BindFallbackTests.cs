using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// Kestrel's any-IP (<c>http://*:port</c>) and <c>localhost</c> bindings try IPv6 and IPv4 and keep what works,
/// provided the transport fails a bind with something other than an IOException. Each test runs the same app in
/// test/RingCore.FallbackProbe twice, on Kestrel's Sockets transport and on RingCore, where IPv6 is missing, and
/// checks that RingCore starts, serves over 127.0.0.1 through io_uring, and that Kestrel logs the same binding lines
/// and reports the same addresses as with Sockets.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed partial class BindFallbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const string RingListening = "info: RingCore.Transport[18] RingCore listening on ";

    /// <summary>As with ipv6.disable=1: socket(AF_INET6) fails with EAFNOSUPPORT (a seccomp filter in the probe).</summary>
    [Theory]
    [InlineData("http://*:{0}", "0.0.0.0:{0}", "Failed to bind to http://[::]:{0} (IPv6Any). Attempting to bind to http://0.0.0.0:{0} instead.")]
    [InlineData("http://localhost:{0}", "127.0.0.1:{0}", "Unable to bind to http://localhost:{0} on the IPv6 loopback interface: '")]
    public async Task Host_without_IPv6_serves_on_IPv4_as_Sockets_does(string urls, string ringEndPoint, string kestrelFallbackLine)
    {
        var sockets = await RunAsync("Sockets", urls, denyIPv6: true);
        var ring = await RunAsync("RingCore", urls, denyIPv6: true);

        string listening = $"{RingListening}{string.Format(ringEndPoint, ring.Port)} on rings 0-1";
        Assert.Contains(ring.Lines, l => l.StartsWith(listening, StringComparison.Ordinal));
        Assert.Contains("SECCOMP socket(AF_INET6, ...) now fails with EAFNOSUPPORT", ring.Lines);
        Assert.Contains(ring.Lines, l => l.Contains(string.Format(kestrelFallbackLine, ring.Port), StringComparison.Ordinal));
        AssertSameKestrelBinding(sockets, ring);
    }

    /// <summary>As in a container: IPv6 disabled by sysctl in the namespace, so ::1 cannot be bound (EADDRNOTAVAIL).</summary>
    [TheoryNeedingNetworkNamespace]
    [InlineData("http://localhost:5000", "127.0.0.1:5000", "Unable to bind to http://localhost:5000 on the IPv6 loopback interface: '")]
    [InlineData("http://*:5000", "[::]:5000", null)] // the IPv6 stack is there: the dual-mode socket binds and takes IPv4
    public async Task Namespace_with_IPv6_disabled_by_sysctl_serves_on_IPv4_as_Sockets_does(string urls, string ringEndPoint, string? kestrelFallbackLine)
    {
        NetworkNamespace.AssertAvailable();

        var sockets = await RunAsync("Sockets", urls, inNamespace: true);
        var ring = await RunAsync("RingCore", urls, inNamespace: true);

        Assert.Contains(ring.Lines, l => l.StartsWith($"{RingListening}{ringEndPoint} on rings 0-1", StringComparison.Ordinal));
        if (kestrelFallbackLine is not null)
        {
            Assert.Contains(ring.Lines, l => l.Contains(kestrelFallbackLine, StringComparison.Ordinal));
        }
        AssertSameKestrelBinding(sockets, ring);
    }

    /// <summary>Where IPv6 exists, <c>http://*:port</c> stays one dual-mode [::] socket (IPV6_V6ONLY=0).</summary>
    [Fact]
    public async Task Host_with_IPv6_binds_any_IP_dual_mode_as_Sockets_does()
    {
        var sockets = await RunAsync("Sockets", "http://*:{0}", alsoGetIPv6Loopback: true);
        var ring = await RunAsync("RingCore", "http://*:{0}", alsoGetIPv6Loopback: true);

        Assert.Equal($"http://[::]:{ring.Port}", ring.Address);
        Assert.Contains(ring.Lines, l => l.StartsWith($"{RingListening}[::]:{ring.Port} on rings 0-1", StringComparison.Ordinal));
        AssertSameKestrelBinding(sockets, ring);
    }

    /// <summary>What one run of the probe showed, with its port.</summary>
    private sealed record Run(int Port, string Address, IReadOnlyList<string> Lines);

    /// <summary>
    /// Starts the probe on <paramref name="transport"/> with <paramref name="urls"/> (its {0} replaced by a free port),
    /// checks that a GET over 127.0.0.1 returns 200 (from this process, or from inside the probe when it runs in its
    /// own namespace), that RingCore really serves through io_uring, and stops it cleanly.
    /// </summary>
    private static async Task<Run> RunAsync(string transport, string urls, bool denyIPv6 = false, bool inNamespace = false,
        bool alsoGetIPv6Loopback = false)
    {
        // A fresh namespace has every port free; on the host, take one that is free on IPv4 and IPv6 right now.
        int port = inNamespace ? 5000 : FreePort();
        string url = string.Format(urls, port);
        var args = new List<string> { "--urls", url, "--transport", transport };
        if (denyIPv6)
        {
            args.AddRange(["--deny-ipv6", "EAFNOSUPPORT"]);
        }
        if (inNamespace)
        {
            args.AddRange(["--self-request", $"http://127.0.0.1:{port}/"]);
        }

        await using var probe = ProbeProcess.Start("none", "Throw", args.ToArray(), launcher: inNamespace ? NetworkNamespace.Launcher : null);
        string address = await probe.WaitUntilListeningAsync();

        if (inNamespace)
        {
            Assert.Contains(NetworkNamespace.ReadyLine, probe.StdoutLines);
            Assert.NotEqual(NetNamespaceOf("self"), NetNamespaceOf(probe.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            string response = await probe.WaitForLineAsync(l => l.StartsWith("SELF-REQUEST ", StringComparison.Ordinal), Timeout, what: "SELF-REQUEST");
            Assert.True(response == "SELF-REQUEST 200 fallback-probe", $"{transport}: {response}\n{probe.Transcript}");
        }
        else
        {
            await AssertGetAsync($"http://127.0.0.1:{port}/", probe);
            if (alsoGetIPv6Loopback)
            {
                await AssertGetAsync($"http://[::1]:{port}/", probe);
            }
        }
        Assert.Equal(transport == "RingCore" ? 2 : 0, probe.IoUringFdCount());

        await probe.CloseStdinAndAssertCleanExitAsync();
        Assert.Equal(transport == "RingCore", probe.StdoutLines.Any(l => l.StartsWith(RingListening, StringComparison.Ordinal)));
        return new Run(port, address, probe.StdoutLines);
    }

    private static async Task AssertGetAsync(string url, ProbeProcess probe)
    {
        using var client = new HttpClient { Timeout = Timeout };
        using var response = await client.GetAsync(url);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: {(int)response.StatusCode}\n{probe.Transcript}");
        Assert.Equal("fallback-probe", await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Kestrel saw the same thing on both transports: the same binding log lines (its own category and "Now listening
    /// on", ports replaced) in the same order, and the same address. An error Kestrel quotes may say more on RingCore
    /// (the call and endpoint that failed) but contains what the Sockets transport said.
    /// </summary>
    private static void AssertSameKestrelBinding(Run sockets, Run ring)
    {
        var expected = KestrelLines(sockets);
        var actual = KestrelLines(ring);
        string both = $"Sockets:\n{string.Join('\n', sockets.Lines)}\nRingCore:\n{string.Join('\n', ring.Lines)}";
        Assert.True(expected.Select(l => l.Shape).SequenceEqual(actual.Select(l => l.Shape)), $"Kestrel logged differently.\n{both}");
        foreach (var (socketsLine, ringLine) in expected.Zip(actual))
        {
            Assert.True(ringLine.Quoted.Contains(socketsLine.Quoted, StringComparison.Ordinal),
                $"RingCore's error '{ringLine.Quoted}' does not contain Sockets' '{socketsLine.Quoted}'.\n{both}");
        }
        Assert.Equal(sockets.Address.Replace($":{sockets.Port}", ":PORT"), ring.Address.Replace($":{ring.Port}", ":PORT"));
    }

    private static List<(string Shape, string Quoted)> KestrelLines(Run run) => run.Lines
        .Where(l => KestrelCategory().IsMatch(l) || l.StartsWith("info: Microsoft.Hosting.Lifetime[14] Now listening on:", StringComparison.Ordinal))
        .Select(l => l.Replace($":{run.Port}", ":PORT"))
        .Select(l => (Shape: QuotedError().Replace(l, "'…'"), Quoted: QuotedError().Match(l).Groups["error"].Value))
        .ToList();

    [GeneratedRegex(@"^\w{4}: Microsoft\.AspNetCore\.Server\.Kestrel\[\d+\] ")]
    private static partial Regex KestrelCategory();

    [GeneratedRegex(@"'(?<error>[^']*)'")]
    private static partial Regex QuotedError();

    private static string NetNamespaceOf(string pid) => new FileInfo($"/proc/{pid}/ns/net").LinkTarget ?? "";

    /// <summary>A port free on IPv4 and IPv6 at this moment (a dual-mode socket bound to port 0 takes it on both).</summary>
    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
