using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RingCore.FallbackProbe;

/// <summary>
/// One HTTP GET from inside the probe, for a probe that runs where the test cannot connect to it (its own
/// network namespace). A plain socket of the URL's address family, so the request goes exactly to the address the
/// URL names (HttpClient may prefer a dual-mode IPv6 socket).
/// </summary>
internal static class SelfRequest
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Returns "status body", e.g. "200 fallback-probe", or "FAILED: why".</summary>
    public static async Task<string> GetAsync(Uri url)
    {
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            var address = IPAddress.Parse(url.Host.Trim('[', ']'));
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(address, url.Port), timeout.Token);
            // HTTP/1.0: the body comes unchunked and the server closes the connection after it.
            string request = $"GET {url.PathAndQuery} HTTP/1.0\r\nHost: {url.Authority}\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, timeout.Token);

            var response = new MemoryStream();
            var buffer = new byte[4096];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                response.Write(buffer, 0, read);
            }
            string text = Encoding.ASCII.GetString(response.ToArray());
            int headersEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            string[] statusLine = text[..Math.Max(0, text.IndexOf("\r\n", StringComparison.Ordinal))].Split(' ');
            if (headersEnd < 0 || statusLine.Length < 2)
            {
                return $"FAILED: not an HTTP response: {text}";
            }
            return $"{statusLine[1]} {text[(headersEnd + 4)..]}";
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or FormatException)
        {
            return $"FAILED: {ex.GetType().Name}: {ex.Message}";
        }
    }
}
