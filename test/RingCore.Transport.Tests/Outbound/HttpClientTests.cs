using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using RingCore.Transport.Tests.Infrastructure;
using static RingCore.Transport.Tests.Outbound.OutboundTestSupport;

namespace RingCore.Transport.Tests.Outbound;

/// <summary>
/// HttpClient (SocketsHttpHandler) over the rings against a real Kestrel on Sockets: bodies hashed end to end,
/// pooling, and errors compared with a plain SocketsHttpHandler's for the same target.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class HttpClientTests
{
    private const int Large = 64 * 1024 * 1024;

    private static Task<SocketsServer> StartBackendAsync() => SocketsServer.StartAsync(app =>
    {
        app.Run(async context =>
        {
            switch (context.Request.Path.Value)
            {
                case "/hash": // hashes the request body (64 MiB: above Kestrel's default limit)
                    context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;
                    byte[] hash = await SHA256.HashDataAsync(context.Request.Body);
                    await context.Response.WriteAsync(Convert.ToHexString(hash));
                    break;
                case "/large": // 64 MiB of a fixed pseudo-random pattern
                    byte[] block = Pattern();
                    context.Response.ContentLength = Large;
                    for (int sent = 0; sent < Large; sent += block.Length)
                    {
                        await context.Response.Body.WriteAsync(block);
                    }
                    break;
                default:
                    await context.Response.WriteAsync($"{context.Request.Method} {context.Request.Path}");
                    break;
            }
        });
    });

    private static byte[] Pattern()
    {
        var block = new byte[64 * 1024];
        new Random(42).NextBytes(block);
        return block;
    }

    [Fact]
    public async Task Get_post_and_64_MiB_each_way_arrive_intact_and_the_pool_reuses_connections()
    {
        await using SocketsServer backend = await StartBackendAsync();
        // Rings an earlier test left on purpose (a ring whose io_uring_enter failed stays mapped) are not this test's.
        int ringFdsBefore = ProcessResources.IoUringFdCount();
        int ringMappingsBefore = ProcessResources.IoUringMappingCount();
        int socketsBefore = ProcessResources.SocketFdCount(); // the backend's listener
        await using (RingCoreConnectionFactory factory = NewFactory())
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 50 }.UseRingCore(factory)) { Timeout = TestTimeout };
            var baseUri = new Uri($"http://127.0.0.1:{backend.Port}");

            Assert.Equal("GET /hello", await client.GetStringAsync(new Uri(baseUri, "/hello")));
            using (var post = await client.PostAsync(new Uri(baseUri, "/echo"), new StringContent("x")))
            {
                Assert.Equal("POST /echo", await post.Content.ReadAsStringAsync());
            }

            byte[] upload = RandomNumberGenerator.GetBytes(Large);
            using (var uploaded = await client.PostAsync(new Uri(baseUri, "/hash"), new ByteArrayContent(upload)))
            {
                Assert.Equal(Convert.ToHexString(SHA256.HashData(upload)), await uploaded.Content.ReadAsStringAsync());
            }

            using (var download = await client.GetAsync(new Uri(baseUri, "/large"), HttpCompletionOption.ResponseHeadersRead))
            await using (Stream body = await download.Content.ReadAsStreamAsync())
            {
                using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[81920];
                long total = 0;
                int read;
                while ((read = await body.ReadAsync(buffer)) > 0)
                {
                    hasher.AppendData(buffer, 0, read);
                    total += read;
                }
                using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                byte[] block = Pattern();
                for (int i = 0; i < Large / block.Length; i++)
                {
                    expected.AppendData(block);
                }
                Assert.Equal(Large, total);
                Assert.Equal(expected.GetHashAndReset(), hasher.GetHashAndReset());
            }

            // 1,000 requests, 50 at a time, on the pooled handler: at most 50 connections, all on the rings.
            var gate = new SemaphoreSlim(50);
            await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    Assert.Equal($"GET /r{i}", await client.GetStringAsync(new Uri(baseUri, $"/r{i}")));
                }
                finally
                {
                    gate.Release();
                }
            })).WaitAsync(TestTimeout);
            Assert.InRange(factory.ActiveConnections, 1, 50);
            Assert.Equal(ringFdsBefore + 2, ProcessResources.IoUringFdCount());
        }
        // Disposing the factory stops its rings and closes the connections the pool still held.
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(ringFdsBefore, ProcessResources.IoUringFdCount());
        // Our ends of the pooled connections are closed, and the backend (in this process too) closes its ends
        // when it reads our FINs.
        await WaitUntilAsync(() => ProcessResources.SocketFdCount() == socketsBefore,
            () => $"{ProcessResources.SocketFdCount()} sockets open, {socketsBefore} before the traffic");
        Assert.Equal(ringMappingsBefore, ProcessResources.IoUringMappingCount()); // SQ, CQ and provided-buffer rings unmapped
    }

    [Fact]
    public async Task A_refused_port_fails_as_with_a_plain_SocketsHttpHandler()
    {
        var closed = ClosedPortUri();
        await using RingCoreConnectionFactory factory = NewFactory();
        using var ours = new HttpClient(new SocketsHttpHandler().UseRingCore(factory));
        using var plain = new HttpClient(new SocketsHttpHandler());

        var ourError = await Assert.ThrowsAsync<HttpRequestException>(() => ours.GetAsync(closed)).WaitAsync(TestTimeout);
        var plainError = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(closed)).WaitAsync(TestTimeout);

        Assert.Equal(plainError.HttpRequestError, ourError.HttpRequestError);
        Assert.Equal(HttpRequestError.ConnectionError, ourError.HttpRequestError);
        var inner = Assert.IsType<SocketException>(ourError.InnerException);
        Assert.Equal(((SocketException)plainError.InnerException!).SocketErrorCode, inner.SocketErrorCode);
        Assert.Contains(closed.Authority, ourError.Message);
    }

    [Fact]
    public async Task A_connect_timeout_fails_as_with_a_plain_SocketsHttpHandler_and_cancels_the_connect()
    {
        using var unanswered = new UnansweredListener();
        var uri = new Uri($"http://127.0.0.1:{unanswered.EndPoint.Port}/");
        await using RingCoreConnectionFactory factory = NewFactory();
        using var ours = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(300) }.UseRingCore(factory));
        using var plain = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(300) });

        Exception ourError = await Assert.ThrowsAnyAsync<Exception>(() => ours.GetAsync(uri)).WaitAsync(TestTimeout);
        Exception plainError = await Assert.ThrowsAnyAsync<Exception>(() => plain.GetAsync(uri)).WaitAsync(TestTimeout);

        Assert.Equal(plainError.GetType(), ourError.GetType());
        Assert.Equal(plainError.InnerException?.GetType(), ourError.InnerException?.GetType());
        Assert.Equal(0, factory.ActiveConnections);
        Assert.Equal(0, RingOwners(factory)); // the connect SQE was cancelled, not left in the kernel
    }

    [Fact]
    public async Task Cancelling_mid_body_releases_the_connection()
    {
        var firstHalfSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using SocketsServer backend = await SocketsServer.StartAsync(app => app.Run(async context =>
        {
            context.Response.ContentLength = 2048;
            await context.Response.Body.WriteAsync(new byte[1024]);
            await context.Response.Body.FlushAsync();
            firstHalfSent.TrySetResult();
            await release.Task.WaitAsync(context.RequestAborted).ContinueWith(_ => { });
        }));
        await using RingCoreConnectionFactory factory = NewFactory();
        using var client = new HttpClient(new SocketsHttpHandler().UseRingCore(factory));
        using var cancel = new CancellationTokenSource();

        using HttpResponseMessage response = await client.GetAsync($"http://127.0.0.1:{backend.Port}/", HttpCompletionOption.ResponseHeadersRead, cancel.Token).WaitAsync(TestTimeout);
        Stream body = await response.Content.ReadAsStreamAsync(cancel.Token);
        await firstHalfSent.Task.WaitAsync(TestTimeout);
        var buffer = new byte[4096];
        int got = 0;
        while (got < 1024)
        {
            got += await body.ReadAsync(buffer, cancel.Token);
        }
        Task<int> pending = body.ReadAsync(buffer, cancel.Token).AsTask();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending).WaitAsync(TestTimeout);
        release.TrySetResult();

        // The handler drops a connection whose response was cut short.
        await WaitUntilAsync(() => factory.ActiveConnections == 0 && RingOwners(factory) == 0,
            () => $"still {factory.ActiveConnections} connection(s) open");
    }

    [Fact]
    public async Task Http2_over_TLS_negotiated_by_ALPN_on_both_sides_of_the_rings()
    {
        using var certificate = RingCore.Transport.Tests.EndToEnd.ProtocolTests.CreateSelfSignedCertificate();
        await using RingServer server = await RingServer.StartAsync(
            (HttpContext context) => context.Response.WriteAsync($"{context.Request.Protocol} {context.Request.IsHttps}"),
            configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }));
        await using RingCoreConnectionFactory factory = NewFactory();
        var handler = new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString(),
            },
        }.UseRingCore(factory);
        using var client = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        var uri = new Uri($"https://127.0.0.1:{server.Port}/");
        string[] bodies = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.GetStringAsync(uri))).WaitAsync(TestTimeout);

        Assert.All(bodies, body => Assert.Equal("HTTP/2 True", body));
        Assert.Equal(1, factory.ActiveConnections); // HTTP/2 multiplexes the 20 requests on one connection
    }

    [Fact]
    public async Task A_redirect_to_another_port_is_followed_over_a_new_ring_connection()
    {
        await using SocketsServer target = await StartBackendAsync();
        await using SocketsServer redirector = await SocketsServer.StartAsync(app => app.Run(context =>
        {
            context.Response.Redirect($"http://127.0.0.1:{target.Port}/landed");
            return Task.CompletedTask;
        }));
        await using RingCoreConnectionFactory factory = NewFactory();
        using var client = new HttpClient(new SocketsHttpHandler().UseRingCore(factory));

        Assert.Equal("GET /landed", await client.GetStringAsync($"http://127.0.0.1:{redirector.Port}/start").WaitAsync(TestTimeout));
        Assert.Equal(2, factory.ActiveConnections); // one pooled connection per port
    }

    [Fact]
    public async Task A_connect_cancelled_by_the_callers_token_fails_as_with_a_plain_SocketsHttpHandler_and_leaves_nothing()
    {
        using var unanswered = new UnansweredListener();
        var uri = new Uri($"http://127.0.0.1:{unanswered.EndPoint.Port}/");
        await using RingCoreConnectionFactory factory = NewFactory();
        using var ours = new HttpClient(new SocketsHttpHandler().UseRingCore(factory));
        using var plain = new HttpClient(new SocketsHttpHandler());

        using var cancelOurs = new CancellationTokenSource();
        Task<HttpResponseMessage> ourRequest = ours.GetAsync(uri, cancelOurs.Token);
        // The connect SQE is in the kernel once the connect operation is registered on a ring.
        await WaitUntilAsync(() => RingOwners(factory) != 0, () => "the connect never reached a ring");
        cancelOurs.Cancel();
        var ourError = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ourRequest).WaitAsync(TestTimeout);

        using var cancelPlain = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)); // its SYN is never answered either
        var plainError = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => plain.GetAsync(uri, cancelPlain.Token)).WaitAsync(TestTimeout);

        Assert.Equal(plainError.GetType(), ourError.GetType());
        Assert.Equal(cancelOurs.Token, ourError.CancellationToken);

        // SocketsHttpHandler lets a connection attempt outlive the request that started it, in case it serves the
        // next one, and cancels it 5 s later (its PendingConnectionTimeoutOnRequestCompletion), as it does with
        // Socket. Then the connect SQE is cancelled in the kernel and its fd closed.
        await WaitUntilAsync(() => RingOwners(factory) == 0, () => "the connect is still registered on its ring");
        Assert.Equal(0, factory.ActiveConnections);
    }

    [Fact]
    public async Task When_the_server_closes_idle_pooled_connections_the_next_request_goes_out_on_a_new_one()
    {
        // Kestrel closes an idle keep-alive connection gracefully (FIN) when asked to, as at its KeepAliveTimeout.
        var accepted = new System.Collections.Concurrent.ConcurrentQueue<Microsoft.AspNetCore.Connections.ConnectionContext>();
        await using SocketsServer backend = await SocketsServer.StartAsync(
            app => app.Run(context => context.Response.WriteAsync($"{context.Request.Path} on {context.Connection.Id}")),
            listen => listen.Use(next => connection =>
            {
                accepted.Enqueue(connection);
                return next(connection);
            }));
        await using RingCoreConnectionFactory factory = NewFactory();
        using var client = new HttpClient(new SocketsHttpHandler().UseRingCore(factory));
        var uri = new Uri($"http://127.0.0.1:{backend.Port}/");
        const int Rounds = 10;

        var connectionIds = new HashSet<string>();
        for (int round = 0; round < Rounds; round++)
        {
            string body = await client.GetStringAsync(new Uri(uri, $"/r{round}")).WaitAsync(TestTimeout);
            Assert.StartsWith($"/r{round} on ", body);
            Assert.True(connectionIds.Add(body[body.IndexOf(" on ", StringComparison.Ordinal)..]), $"round {round} reused a connection the server had closed: {body}");

            // The server ends the (now idle) connection and waits until it is gone on its side.
            Assert.True(accepted.TryDequeue(out var connection), "the server saw no new connection");
            Assert.True(accepted.IsEmpty);
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
            connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()!.RequestClose();
            await closed.Task.WaitAsync(TestTimeout);
        }

        // Every closed connection is released on our side too: only the last round's, closed by the server, may
        // still be open until the handler notices; none is leaked.
        await WaitUntilAsync(() => factory.ActiveConnections <= 1 && RingOwners(factory) <= 1,
            () => $"still {factory.ActiveConnections} connection(s) open after {Rounds} server closes");
        client.Dispose();
        await WaitUntilAsync(() => factory.ActiveConnections == 0 && RingOwners(factory) == 0,
            () => $"still {factory.ActiveConnections} connection(s) open after the client was disposed");
    }

    private static Uri ClosedPortUri()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new Uri($"http://127.0.0.1:{((IPEndPoint)probe.LocalEndPoint!).Port}/");
    }
}
