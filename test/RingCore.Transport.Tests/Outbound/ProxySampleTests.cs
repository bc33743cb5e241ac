using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Outbound;

/// <summary>
/// samples/RingCore.ProxySample (YARP) in a child process, in front of a Kestrel backend on Sockets in this process,
/// with strace attached to the proxy while traffic goes through it. On RingCore both ways the proxy accepts,
/// connects, receives and waits through its rings: strace sees no connect, accept4, recvfrom, recvmsg or epoll
/// call. Sends are the exception by design: a flush on an application thread may send(2) directly when no send
/// is in flight on the socket (RingConnection.DirectSend.cs); those carry MSG_DONTWAIT, which Socket's sends never
/// do (its sockets are non-blocking already). The same test with both sides on Sockets shows each of those calls,
/// which proves strace would have seen them.
/// </summary>
public sealed class ProxySampleTests
{
    private static readonly string[] TracedSyscalls =
        ["connect", "accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "epoll_wait", "epoll_pwait", "epoll_ctl"];

    [Theory(Timeout = 120_000)]
    [InlineData("ringcore")]
    [InlineData("sockets")]
    public async Task Requests_through_the_proxy_sample_reach_the_backend_intact_and_ride_the_rings_both_ways(string transport)
    {
        await using var backend = await SocketsServer.StartAsync(app => app.Run(BackendAsync));
        await using var proxy = ProbeProcess.StartSample("RingCore.ProxySample",
            ["--urls", "http://127.0.0.1:0", "--backend", $"http://127.0.0.1:{backend.Port}", "--transport", transport, "--outbound", transport]);
        string listening = await proxy.WaitForLineAsync(l => l.Contains("Now listening on: ", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), what: "Kestrel's 'Now listening on' line");
        var proxyUri = new Uri(listening[(listening.IndexOf("http://", StringComparison.Ordinal))..].Trim());
        bool onRings = transport == "ringcore";
        Assert.Equal(onRings, proxy.StdoutLines.Any(l => l.Contains("RingCore listening on", StringComparison.Ordinal)));
        // The default ring count (application code on the thread pool); the outbound side uses the same rings.
        int defaultRings = RingCoreTransportOptions.DefaultRingThreadCount(new RingCoreTransportOptions().ApplicationScheduling, Environment.ProcessorCount);
        Assert.Equal(onRings ? defaultRings : 0, proxy.IoUringFdCount());

        await using var strace = await StraceSession.AttachAsync(proxy.Pid, TracedSyscalls);
        using var client = new HttpClient(new SocketsHttpHandler()) { BaseAddress = proxyUri, Timeout = TimeSpan.FromSeconds(30) };

        // Small requests on keep-alive connections, query and headers passed on.
        for (int i = 0; i < 50; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/echo?n={i}&x=%2Fodd");
            request.Headers.Add("X-Proxy-Test", $"value {i}");
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"GET /echo ?n={i}&x=%2Fodd value {i}", await response.Content.ReadAsStringAsync());
        }

        // 8 MiB up and 8 MiB down, by SHA-256.
        byte[] upload = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        using (var response = await client.PostAsync("/sha256", new ByteArrayContent(upload)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(upload)), await response.Content.ReadAsStringAsync());
        }
        byte[] download = await client.GetByteArrayAsync("/bytes?size=8388608");
        Assert.Equal(Convert.ToHexString(SHA256.HashData(DeterministicBytes(8 * 1024 * 1024))), Convert.ToHexString(SHA256.HashData(download)));

        using var info = JsonDocument.Parse(await client.GetStringAsync("/_proxy"));
        Assert.Equal(transport, info.RootElement.GetProperty("outbound").GetString());
        long outboundOnRings = info.RootElement.GetProperty("outboundConnectionsOnRings").GetInt64();

        var calls = await strace.StopAsync();
        string Listing(string syscall) => string.Join('\n', calls.Where(c => c.Syscall == syscall).Take(5).Select(c => c.Line));
        int Count(params string[] syscalls) => calls.Count(c => syscalls.Contains(c.Syscall));
        bool ThroughSocket((string Syscall, string Line) c) =>
            c.Syscall is "sendto" or "sendmsg" && !c.Line.Contains("MSG_DONTWAIT", StringComparison.Ordinal);

        if (onRings)
        {
            Assert.True(outboundOnRings >= 1, $"no outbound connection on the rings: {info.RootElement}");
            foreach (string syscall in new[] { "connect", "accept", "accept4", "recvfrom", "recvmsg", "epoll_wait", "epoll_pwait", "epoll_ctl" })
            {
                Assert.True(Count(syscall) == 0, $"the proxy called {syscall} {Count(syscall)} time(s):\n{Listing(syscall)}");
            }
            Assert.DoesNotContain(calls, ThroughSocket);
        }
        else
        {
            // The control: the same traffic on Kestrel's Sockets transport and YARP's own SocketsHttpHandler shows
            // what the rings avoid.
            Assert.Equal(-1, outboundOnRings);
            Assert.True(Count("accept", "accept4") >= 1, "strace saw no accept on the Sockets side");
            Assert.True(Count("connect") >= 1, "strace saw no connect on the Sockets side");
            Assert.True(Count("epoll_wait", "epoll_pwait") >= 1, "strace saw no epoll wait on the Sockets side");
            Assert.True(Count("recvfrom", "recvmsg") >= 1, "strace saw no receive on the Sockets side");
            Assert.Contains(calls, ThroughSocket);
        }

        // SIGTERM: the proxy stops cleanly (its pooled outbound connections and rings are closed on the way).
        Assert.Equal(0, RingCore.BenchmarkRunner.Execution.Native.Signal(proxy.Pid, RingCore.BenchmarkRunner.Execution.Native.SigTerm));
        Assert.Equal(0, await proxy.WaitForExitAsync());
        Assert.DoesNotContain(proxy.StdoutLines, l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal));
    }

    /// <summary>GET /echo: method, path, query and X-Proxy-Test as seen here; POST /sha256: the body's hash; GET /bytes?size=N.</summary>
    private static async Task BackendAsync(HttpContext context)
    {
        switch (context.Request.Path.Value)
        {
            case "/echo":
                await context.Response.WriteAsync($"{context.Request.Method} {context.Request.Path} {context.Request.QueryString} {context.Request.Headers["X-Proxy-Test"]}");
                break;
            case "/sha256":
                await context.Response.WriteAsync(Convert.ToHexString(await SHA256.HashDataAsync(context.Request.Body)));
                break;
            case "/bytes":
                byte[] body = DeterministicBytes(int.Parse(context.Request.Query["size"]!));
                context.Response.ContentLength = body.Length;
                await context.Response.Body.WriteAsync(body);
                break;
            default:
                context.Response.StatusCode = 404;
                break;
        }
    }

    private static byte[] DeterministicBytes(int length)
    {
        byte[] bytes = new byte[length];
        new Random(14).NextBytes(bytes);
        return bytes;
    }
}
