using System.Net.Sockets;
using RingCore.Transport;

namespace RingCore.FallbackProbe;

/// <summary>
/// --outbound-request: one GET through HttpClient over the host's RingCoreConnectionFactory and, with
/// --outbound-compare-sockets, the same GET over a plain SocketsHttpHandler, each described in one line, so a test
/// can compare the two where only this process can reach (a network namespace, a private /etc/hosts).
/// </summary>
internal static class OutboundRequest
{
    public static async Task RunAsync(RingCoreConnectionFactory factory, Uri target, TimeSpan? connectTimeout, bool compareWithSockets)
    {
        // What a test waits to see again once both handlers are done: nothing either left behind.
        Console.WriteLine($"OUTBOUND-SOCKETS-BEFORE {SocketFdCount()}");
        if (target.HostNameType == UriHostNameType.Dns)
        {
            // What the resolver gives for the name, in the order the connection factory tries it.
            var resolved = await System.Net.Dns.GetHostAddressesAsync(target.IdnHost);
            Console.WriteLine($"OUTBOUND-RESOLVED {string.Join(',', resolved.Select(a => a.ToString()))}");
        }
        Console.WriteLine($"OUTBOUND-REQUEST {await GetAsync(NewHandler(connectTimeout).UseRingCore(factory), target)}");
        if (compareWithSockets)
        {
            Console.WriteLine($"OUTBOUND-REQUEST-SOCKETS {await GetAsync(NewHandler(connectTimeout), target)}");
        }
        Console.WriteLine($"OUTBOUND-CONNECTIONS {factory.ActiveConnections}");
    }

    private static int SocketFdCount() => Directory.GetFiles("/proc/self/fd")
        .Count(fd => new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true);

    private static SocketsHttpHandler NewHandler(TimeSpan? connectTimeout) =>
        new() { ConnectTimeout = connectTimeout ?? Timeout.InfiniteTimeSpan };

    /// <summary>"&lt;status&gt; &lt;body&gt;", or "FAILED: &lt;exception&gt; &lt;HttpRequestError&gt; &lt;inner&gt;: &lt;message&gt;".</summary>
    private static async Task<string> GetAsync(SocketsHttpHandler handler, Uri target)
    {
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using HttpResponseMessage response = await client.GetAsync(target);
            return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        }
        catch (Exception ex)
        {
            string error = ex is HttpRequestException http ? $" {http.HttpRequestError}" : "";
            string inner = ex.InnerException switch
            {
                SocketException socket => $" SocketException {socket.SocketErrorCode}",
                { } other => $" {other.GetType().Name}",
                null => "",
            };
            return $"FAILED: {ex.GetType().Name}{error}{inner}: {ex.Message}";
        }
    }
}
