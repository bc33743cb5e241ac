using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>What runs on top of the transport's byte streams: TLS, HTTP/2 (ALPN and prior knowledge), WebSockets.</summary>
[Collection(ServerCollection.Name)]
public sealed class ProtocolTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] LargeBody = RandomBytes(4 * 1024 * 1024, seed: 7);

    [Fact]
    public async Task HttpsWithAGeneratedCertificateServesSmallAndLargeResponsesIntact()
    {
        using X509Certificate2 certificate = CreateSelfSignedCertificate();
        int validations = 0;

        await using var server = await RingServer.StartAsync(async (HttpContext context) =>
        {
            var tls = context.Features.Get<ITlsHandshakeFeature>();
            if (context.Request.Path == "/large")
            {
                // Written in uneven pieces so records and sends do not line up with the body.
                for (int offset = 0; offset < LargeBody.Length; offset += 50_000)
                {
                    await context.Response.Body.WriteAsync(LargeBody.AsMemory(offset, Math.Min(50_000, LargeBody.Length - offset)));
                }
            }
            else
            {
                await context.Response.WriteAsync($"https={context.Request.IsHttps};protocol={tls?.Protocol};http={context.Request.Protocol}");
            }
        }, configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));

        Assert.Equal($"https://127.0.0.1:{server.Port}", Assert.Single(server.Addresses));
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                {
                    Interlocked.Increment(ref validations);
                    return presented is not null && presented.GetRawCertData().AsSpan().SequenceEqual(certificate.RawData);
                },
            },
        };
        using (var client = new HttpClient(handler) { BaseAddress = server.BaseAddress })
        {
            string description = await client.GetStringAsync("/").WaitAsync(Timeout);
            Assert.Matches("^https=True;protocol=Tls1[23];http=HTTP/1.1$", description);
            Assert.True(validations > 0, "the client checked the server's certificate");

            using var response = await client.GetAsync("/large", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout);
            response.EnsureSuccessStatusCode();
            await using Stream body = await response.Content.ReadAsStreamAsync();
            await AssertStreamEqualsAsync(LargeBody, body);

            await server.WaitForConnectionsAsync(1); // both requests on one TLS connection over the transport
        }
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task Http2OverTlsIsNegotiatedWithAlpnAndMultiplexesStreams()
    {
        using X509Certificate2 certificate = CreateSelfSignedCertificate();
        const int Streams = 8;
        var protocols = new ConcurrentBag<string>();
        var connectionIds = new ConcurrentBag<string>();
        int arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await using var server = await RingServer.StartAsync(async (HttpContext context) =>
        {
            protocols.Add(context.Request.Protocol);
            connectionIds.Add(context.Connection.Id);
            if (context.Request.Path.StartsWithSegments("/together"))
            {
                // Every stream waits here until all have arrived: only multiplexed streams can get past.
                if (Interlocked.Increment(ref arrived) == Streams)
                {
                    allArrived.SetResult();
                }
                await allArrived.Task.WaitAsync(Timeout);
            }
            await context.Response.WriteAsync($"{context.Request.Protocol} {context.Request.Path}");
        }, configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(certificate);
        }));

        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                    presented is not null && presented.GetRawCertData().AsSpan().SequenceEqual(certificate.RawData),
            },
        };
        using (var client = new HttpClient(handler) { BaseAddress = server.BaseAddress })
        {
            using (var first = await client.SendAsync(Http2Request("/first")).WaitAsync(Timeout))
            {
                Assert.Equal(HttpVersion.Version20, first.Version);
                Assert.Equal("HTTP/2 /first", await first.Content.ReadAsStringAsync());
            }

            HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, Streams)
                .Select(i => client.SendAsync(Http2Request($"/together/{i}")))).WaitAsync(Timeout);
            for (int i = 0; i < Streams; i++)
            {
                using HttpResponseMessage response = responses[i];
                Assert.Equal(HttpVersion.Version20, response.Version);
                Assert.Equal($"HTTP/2 /together/{i}", await response.Content.ReadAsStringAsync());
            }

            Assert.Equal(Streams + 1, protocols.Count);
            Assert.All(protocols, p => Assert.Equal("HTTP/2", p));
            Assert.Single(connectionIds.Distinct()); // all streams on one connection
            await server.WaitForConnectionsAsync(1);
        }
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task Http2WithPriorKnowledgeOverPlainTcp()
    {
        byte[] upload = RandomBytes(1024 * 1024, seed: 11);
        var protocols = new ConcurrentBag<string>();

        await using var server = await RingServer.StartAsync(async (HttpContext context) =>
        {
            protocols.Add(context.Request.Protocol);
            if (HttpMethods.IsPost(context.Request.Method))
            {
                // Read it all, then echo: HttpClient does not return a non-duplex request's response before its
                // body is sent, so a streaming echo larger than the flow-control windows would deadlock (as on Sockets).
                var received = new MemoryStream();
                await context.Request.Body.CopyToAsync(received);
                context.Response.ContentLength = received.Length;
                await context.Response.Body.WriteAsync(received.GetBuffer().AsMemory(0, (int)received.Length));
            }
            else
            {
                await context.Response.WriteAsync($"h2c {context.Request.Protocol} {context.Request.Scheme}");
            }
        }, configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));

        using (var client = new HttpClient { BaseAddress = server.BaseAddress })
        {
            using (var response = await client.SendAsync(Http2Request("/")).WaitAsync(Timeout))
            {
                Assert.Equal(HttpVersion.Version20, response.Version);
                Assert.Equal("h2c HTTP/2 http", await response.Content.ReadAsStringAsync());
            }

            var post = Http2Request("/echo");
            post.Method = HttpMethod.Post;
            post.Content = new ByteArrayContent(upload);
            using (var response = await client.SendAsync(post, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Timeout))
            {
                Assert.Equal(HttpVersion.Version20, response.Version);
                await using Stream body = await response.Content.ReadAsStreamAsync();
                await AssertStreamEqualsAsync(upload, body);
            }

            Assert.Equal(2, protocols.Count);
            Assert.All(protocols, p => Assert.Equal("HTTP/2", p));
            await server.WaitForConnectionsAsync(1);
        }
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task WebSocketEchoesTextAndALargeBinaryMessageAndClosesCleanly()
    {
        byte[] binary = RandomBytes(1024 * 1024, seed: 5);
        var serverSawClose = new TaskCompletionSource<(WebSocketCloseStatus?, string?)>(TaskCreationOptions.RunContinuationsAsynchronously);

        await using var server = await RingServer.StartAsync(app =>
        {
            app.UseWebSockets();
            app.Run(async context =>
            {
                if (!context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    return;
                }
                using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[16 * 1024];
                while (true)
                {
                    WebSocketReceiveResult result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        serverSawClose.TrySetResult((result.CloseStatus, result.CloseStatusDescription));
                        await socket.CloseAsync(result.CloseStatus ?? WebSocketCloseStatus.NormalClosure, result.CloseStatusDescription, CancellationToken.None);
                        return;
                    }
                    // Streaming echo: each fragment goes straight back, the message ends where the client's ended.
                    await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
                }
            });
        });

        using (var client = new ClientWebSocket())
        {
            using var cancel = new CancellationTokenSource(Timeout);
            await client.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Port}/echo"), cancel.Token);

            await client.SendAsync(Encoding.UTF8.GetBytes("hello, ring"), WebSocketMessageType.Text, endOfMessage: true, cancel.Token);
            var (textType, text) = await ReceiveMessageAsync(client, cancel.Token);
            Assert.Equal(WebSocketMessageType.Text, textType);
            Assert.Equal("hello, ring", Encoding.UTF8.GetString(text));

            // Sent and received concurrently: the echo starts before the client has finished sending.
            Task send = client.SendAsync(binary, WebSocketMessageType.Binary, endOfMessage: true, cancel.Token);
            var (binaryType, echoed) = await ReceiveMessageAsync(client, cancel.Token);
            await send;
            Assert.Equal(WebSocketMessageType.Binary, binaryType);
            Assert.Equal(binary.Length, echoed.Length);
            Assert.True(binary.AsSpan().SequenceEqual(echoed), "the 1 MiB binary message came back intact");

            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel.Token);
            Assert.Equal(WebSocketState.Closed, client.State);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
            Assert.Equal("bye", client.CloseStatusDescription);
            Assert.Equal((WebSocketCloseStatus.NormalClosure, "bye"), await serverSawClose.Task.WaitAsync(Timeout));
        }
        await server.WaitForNoConnectionsAsync();
    }

    private static HttpRequestMessage Http2Request(string path) => new(HttpMethod.Get, path)
    {
        Version = HttpVersion.Version20,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private static async Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveMessageAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var payload = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            ValueWebSocketReceiveResult result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            Assert.NotEqual(WebSocketMessageType.Close, result.MessageType);
            payload.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, payload.ToArray());
            }
        }
    }

    /// <summary>Reads <paramref name="actual"/> to its end in chunks, comparing as it goes.</summary>
    private static async Task AssertStreamEqualsAsync(byte[] expected, Stream actual)
    {
        var buffer = new byte[64 * 1024];
        long position = 0;
        while (true)
        {
            int n = await actual.ReadAsync(buffer).AsTask().WaitAsync(Timeout);
            if (n == 0)
            {
                break;
            }
            Assert.True(position + n <= expected.Length, $"more than the {expected.Length} bytes expected");
            if (!buffer.AsSpan(0, n).SequenceEqual(expected.AsSpan((int)position, n)))
            {
                Assert.Fail($"the body differs within bytes {position}..{position + n}");
            }
            position += n;
        }
        Assert.Equal(expected.Length, position);
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A self-signed server certificate for localhost and 127.0.0.1, with its private key.</summary>
    internal static X509Certificate2 CreateSelfSignedCertificate()
    {
        using RSA key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // server authentication
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }
}
