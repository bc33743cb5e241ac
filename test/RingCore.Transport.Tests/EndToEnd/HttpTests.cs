using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// HTTP/1.1 through Kestrel on the RingCore transport, with real clients: HttpClient (SocketsHttpHandler) and raw
/// sockets. Every test checks that the transport ends with no connection and that the process holds exactly the
/// sockets, io_urings and eventfds it held before the server started.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class HttpTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task GetAndPostThroughHttpClientCarryStatusHeadersAndBody()
    {
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };

            using var get = new HttpRequestMessage(HttpMethod.Get, "/hello?name=ring%20core");
            get.Headers.Add("X-Client", "abc 123");
            using (HttpResponseMessage response = await client.SendAsync(get))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(new Version(1, 1), response.Version);
                Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
                Assert.Equal(15, response.Content.Headers.ContentLength);
                Assert.Equal("ring", Assert.Single(response.Headers.GetValues("X-Custom")));
                Assert.Equal("abc 123", Assert.Single(response.Headers.GetValues("X-Client-Echo")));
                Assert.Equal("hello ring core", await response.Content.ReadAsStringAsync());
            }

            using var post = new HttpRequestMessage(HttpMethod.Post, "/items")
            {
                Content = new StringContent("{\"name\":\"widget\"}", Encoding.UTF8, "application/json"),
            };
            using (HttpResponseMessage response = await client.SendAsync(post))
            {
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                Assert.Equal(new Uri("/items/42", UriKind.Relative), response.Headers.Location);
                Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal("{\"received\":{\"name\":\"widget\"},\"contentType\":\"application/json; charset=utf-8\",\"length\":17}",
                    await response.Content.ReadAsStringAsync());
            }

            using (HttpResponseMessage response = await client.GetAsync("/no/such/thing"))
            {
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                Assert.Equal("no endpoint GET /no/such/thing", await response.Content.ReadAsStringAsync());
            }
        });
    }

    [Fact]
    public async Task Upload64MiBStreamedIsHashedByTheServerAsTheClientHashedIt()
    {
        const ulong seed = 0x5EED_0001;
        const long length = 64L * 1024 * 1024;
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            Task<string> expected = Task.Run(() => DeterministicBytes.Sha256Hex(seed, length));
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
            var content = new GeneratedContent(seed, length, advertiseLength: true);
            using HttpResponseMessage response = await client.PostAsync("/hash", content);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(length.ToString(CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues("X-Request-Content-Length")));
            Assert.Equal("none", Assert.Single(response.Headers.GetValues("X-Request-Transfer-Encoding")));
            string[] reply = (await response.Content.ReadAsStringAsync()).Split(' ');
            Assert.Equal(length, content.SentBytes);
            Assert.Equal(length.ToString(CultureInfo.InvariantCulture), reply[1]);
            Assert.Equal(content.SentSha256, reply[0]);
            Assert.Equal(await expected.WaitAsync(Timeout), reply[0]);
        });
    }

    [Fact]
    public async Task Download256MiBStreamedArrivesWithTheExpectedHash()
    {
        const ulong seed = 0x5EED_0002;
        const long length = 256L * 1024 * 1024;
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            Task<string> expected = Task.Run(() => DeterministicBytes.Sha256Hex(seed, length));
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
            using var timeout = new CancellationTokenSource(Timeout);
            using HttpResponseMessage response = await client.GetAsync($"/download?seed={seed}&length={length}", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(length, response.Content.Headers.ContentLength);

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long received = 0;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                await using Stream body = await response.Content.ReadAsStreamAsync(timeout.Token);
                int n;
                while ((n = await body.ReadAsync(buffer, timeout.Token)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    received += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            Assert.Equal(length, received);
            Assert.Equal(await expected.WaitAsync(Timeout), Convert.ToHexString(hash.GetHashAndReset()));
        });
    }

    [Fact]
    public async Task ThousandConcurrentRequestsOverTwoHundredConnectionsAllSucceed()
    {
        const int requests = 1000;
        const int connections = 200;
        // The first 200 requests are held in the app until all 200 are in, so 200 connections really are open at
        // once; the rest then flow over those connections.
        var app = new HttpApp { GateCount = connections };
        await WithServerAsync(app.HandleAsync, async server =>
        {
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections };
            using var client = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = Timeout };

            Task<(int Index, HttpStatusCode Status, string Body)>[] calls = Enumerable.Range(0, requests).Select(async i =>
            {
                using HttpResponseMessage response = await client.GetAsync($"/concurrent/{i}");
                return (i, response.StatusCode, await response.Content.ReadAsStringAsync());
            }).ToArray();

            await app.AllGated.Task.WaitAsync(Timeout);
            await server.WaitForConnectionsAsync(connections);
            Assert.Equal(connections, app.ConnectionIds.Count);
            app.ReleaseGate.SetResult();

            var results = await Task.WhenAll(calls).WaitAsync(Timeout);
            foreach (var (index, status, body) in results)
            {
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.Equal(HttpApp.ConcurrentBody(index), body);
            }
            Assert.Equal(requests, app.ConnectionIds.Values.Sum());
            Assert.Equal(connections, app.ConnectionIds.Count); // at most 200 distinct connections, and all 200 used
            Assert.Equal(connections, app.RemotePorts.Count);
        });
    }

    [Fact]
    public async Task SequentialRequestsOnOneHttpClientReuseOneConnection()
    {
        var app = new HttpApp();
        await WithServerAsync(app.HandleAsync, async server =>
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
            var ids = new List<string>();
            for (int i = 0; i < 8; i++)
            {
                using HttpResponseMessage response = i % 3 == 2
                    ? await client.PostAsync("/hash", new ByteArrayContent(DeterministicBytes.Create((ulong)i, 1000 * i)))
                    : await client.GetAsync($"/hello?name={i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await response.Content.ReadAsByteArrayAsync();
                ids.Add(Assert.Single(response.Headers.GetValues("X-Connection-Id")));
            }

            Assert.Single(ids.Distinct());
            Assert.Single(app.ConnectionIds);
            Assert.Equal(8, app.ConnectionIds[ids[0]]);
            Assert.Equal(1, server.ActiveConnections);
        });
    }

    [Fact]
    public async Task SixteenPipelinedRequestsAreAnsweredInOrder()
    {
        const int depth = 16;
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            using var timeout = new CancellationTokenSource(Timeout);
            using RawHttpConnection connection = await RawHttpConnection.ConnectAsync(server.LoopbackEndPoint, timeout.Token);
            var requests = new StringBuilder();
            for (int i = 0; i < depth; i++)
            {
                requests.Append(CultureInfo.InvariantCulture, $"GET /pipe/{i} HTTP/1.1\r\nHost: localhost\r\nX-Index: {i}\r\n\r\n");
            }
            await connection.SendAsync(requests.ToString(), timeout.Token); // one send: 16 requests in one segment

            var connectionIds = new HashSet<string>();
            for (int i = 0; i < depth; i++)
            {
                RawHttpResponse response = await connection.ReadResponseAsync(timeout.Token);
                Assert.Equal(200, response.StatusCode);
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture), response.Header("X-Request-Index"));
                Assert.Equal(HttpApp.PipeBody(i), response.Body);
                connectionIds.Add(response.Header("X-Connection-Id")!);
            }
            Assert.Single(connectionIds);

            // Nothing more than the 16 responses: after our FIN the server closes and the stream ends.
            connection.Socket.Shutdown(SocketShutdown.Send);
            Assert.True(await connection.AtEndOfStreamAsync(timeout.Token));
        });
    }

    [Fact]
    public async Task ClientHalfCloseAfterAResponseIsAnsweredWithFinNotReset()
    {
        // Which of Kestrel's two reactions to the FIN reaches the transport first is a race, so many connections.
        const int connections = 1000;
        const int parallel = 50;
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            using var timeout = new CancellationTokenSource(Timeout);
            for (int batch = 0; batch < connections / parallel; batch++)
            {
                await Task.WhenAll(Enumerable.Range(0, parallel).Select(async i =>
                {
                    using RawHttpConnection connection = await RawHttpConnection.ConnectAsync(server.LoopbackEndPoint, timeout.Token);
                    await connection.SendAsync($"GET /hello?name={i} HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout.Token);
                    RawHttpResponse response = await connection.ReadResponseAsync(timeout.Token);
                    Assert.Equal($"hello {i}", response.BodyText);

                    // Kestrel answers the client's FIN with ConnectionContext.Abort(null) (FinOnError is off), which
                    // is a graceful close: the client must read EOF. A RST surfaces here as ConnectionReset.
                    connection.Socket.Shutdown(SocketShutdown.Send);
                    Assert.True(await connection.AtEndOfStreamAsync(timeout.Token));
                }));
            }
        });
    }

    [Fact]
    public async Task ChunkedRequestBodyFromHttpClientArrivesIntact()
    {
        const ulong seed = 0x5EED_0003;
        const long length = 5L * 1024 * 1024 + 123;
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
            var content = new GeneratedContent(seed, length, advertiseLength: false);
            using HttpResponseMessage response = await client.PostAsync("/hash", content);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("chunked", Assert.Single(response.Headers.GetValues("X-Request-Transfer-Encoding")));
            Assert.Equal("none", Assert.Single(response.Headers.GetValues("X-Request-Content-Length")));
            string[] reply = (await response.Content.ReadAsStringAsync()).Split(' ');
            Assert.Equal(length.ToString(CultureInfo.InvariantCulture), reply[1]);
            Assert.Equal(content.SentSha256, reply[0]);
            Assert.Equal(DeterministicBytes.Sha256Hex(seed, length), reply[0]);
        });
    }

    [Fact]
    public async Task ChunkedRequestBodyFromRawSocketSplitAcrossManySendsArrivesIntact()
    {
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            using var timeout = new CancellationTokenSource(Timeout);
            using RawHttpConnection connection = await RawHttpConnection.ConnectAsync(server.LoopbackEndPoint, timeout.Token);

            int[] chunkSizes = [1, 15, 16, 255, 4096, 70_000, 3, 65_536];
            var wire = new MemoryStream();
            var body = new MemoryStream();
            wire.Write(Encoding.ASCII.GetBytes("POST /hash HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"));
            for (int i = 0; i < chunkSizes.Length; i++)
            {
                byte[] data = DeterministicBytes.Create((ulong)(100 + i), chunkSizes[i]);
                string extension = i == 2 ? ";name=value" : "";
                wire.Write(Encoding.ASCII.GetBytes($"{chunkSizes[i]:x}{extension}\r\n"));
                wire.Write(data);
                wire.Write("\r\n"u8);
                body.Write(data);
            }
            wire.Write("0\r\n\r\n"u8);
            // A second request right behind the first: the connection stays usable after a chunked body.
            wire.Write(Encoding.ASCII.GetBytes("GET /hello?name=after HTTP/1.1\r\nHost: localhost\r\n\r\n"));

            byte[] bytes = wire.ToArray();
            int[] pieces = [1, 2, 3, 5, 7, 11, 13, 1500, 4096, 9000];
            for (int offset = 0, i = 0; offset < bytes.Length; i++)
            {
                int n = Math.Min(pieces[i % pieces.Length], bytes.Length - offset);
                await connection.SendAsync(bytes.AsMemory(offset, n), timeout.Token);
                offset += n;
            }

            RawHttpResponse hashed = await connection.ReadResponseAsync(timeout.Token);
            Assert.Equal(200, hashed.StatusCode);
            Assert.Equal("chunked", hashed.Header("X-Request-Transfer-Encoding"));
            Assert.Equal($"{Convert.ToHexString(SHA256.HashData(body.ToArray()))} {body.Length}", hashed.BodyText);

            RawHttpResponse after = await connection.ReadResponseAsync(timeout.Token);
            Assert.Equal(200, after.StatusCode);
            Assert.Equal("hello after", after.BodyText);
            Assert.Equal(hashed.Header("X-Connection-Id"), after.Header("X-Connection-Id"));
        });
    }

    [Fact]
    public async Task ChunkedResponseIsStreamedFlushByFlushToHttpClient()
    {
        var app = new HttpApp();
        await WithServerAsync(app.HandleAsync, async server =>
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout };
            using var timeout = new CancellationTokenSource(Timeout);
            using HttpResponseMessage response = await client.GetAsync("/chunked-gated", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.TransferEncodingChunked);
            Assert.False(response.Content.Headers.Contains("Content-Length"));

            await using Stream body = await response.Content.ReadAsStreamAsync(timeout.Token);
            // The first flush arrives while the app is still waiting to write the rest: the response streams.
            byte[] first = new byte[HttpApp.GatedPartSize];
            await body.ReadExactlyAsync(first, timeout.Token);
            Assert.Equal(HttpApp.GatedPart(0), first);
            app.ChunkGate.SetResult();

            var rest = new MemoryStream();
            await body.CopyToAsync(rest, timeout.Token);
            byte[] expectedRest = Enumerable.Range(1, HttpApp.GatedParts - 1).SelectMany(HttpApp.GatedPart).ToArray();
            Assert.Equal(expectedRest, rest.ToArray());
        });
    }

    [Fact]
    public async Task ChunkedResponseFramingOnRawSocketHasOneChunkPerFlush()
    {
        const int parts = 5;
        const int size = 3000;
        await WithServerAsync(new HttpApp().HandleAsync, async server =>
        {
            using var timeout = new CancellationTokenSource(Timeout);
            using RawHttpConnection connection = await RawHttpConnection.ConnectAsync(server.LoopbackEndPoint, timeout.Token);
            await connection.SendAsync($"GET /chunked?parts={parts}&size={size} HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout.Token);

            RawHttpResponse response = await connection.ReadResponseAsync(timeout.Token);
            Assert.Equal(200, response.StatusCode);
            Assert.True(response.Chunked);
            Assert.Null(response.Header("Content-Length"));
            Assert.Equal(parts, response.ChunkCount);
            Assert.Equal(HttpApp.ChunkedBody(parts, size), response.Body);

            connection.Socket.Shutdown(SocketShutdown.Send);
            Assert.True(await connection.AtEndOfStreamAsync(timeout.Token));
        });
    }

    [Fact]
    public async Task TestHostOracleAndRingServerGiveIdenticalResponses()
    {
        using IHost testHost = await new HostBuilder()
            .ConfigureWebHost(web => web.UseTestServer().Configure(builder => builder.Run(OracleApp.HandleAsync)))
            .StartAsync();
        using HttpClient oracleClient = testHost.GetTestClient();

        await WithServerAsync(OracleApp.HandleAsync, async server =>
        {
            using var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = DecompressionMethods.None };
            using var ringClient = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = Timeout };

            int compared = 0;
            foreach ((string name, Func<HttpRequestMessage> create) in OracleApp.Cases())
            {
                using HttpRequestMessage oracleRequest = create();
                using HttpRequestMessage ringRequest = create();
                using HttpResponseMessage expected = await oracleClient.SendAsync(oracleRequest);
                using HttpResponseMessage actual = await ringClient.SendAsync(ringRequest);

                Assert.Equal($"{name}: {(int)expected.StatusCode}", $"{name}: {(int)actual.StatusCode}");
                Assert.Equal(SelectedHeaders(name, expected), SelectedHeaders(name, actual));
                byte[] expectedBody = await expected.Content.ReadAsByteArrayAsync();
                byte[] actualBody = await actual.Content.ReadAsByteArrayAsync();
                Assert.Equal($"{name}: {Describe(expectedBody)}", $"{name}: {Describe(actualBody)}");
                compared++;
            }
            Assert.Equal(OracleApp.Cases().Count(), compared);
        });

        static string Describe(byte[] body) => body.Length <= 200
            ? Encoding.UTF8.GetString(body)
            : $"{body.Length} bytes, SHA-256 {Convert.ToHexString(SHA256.HashData(body))}";
    }

    /// <summary>
    /// The response headers the application controls, as text. Left out: what the host adds by itself (Server,
    /// Date, Transfer-Encoding), which differ between Kestrel and TestServer by design.
    /// </summary>
    private static string SelectedHeaders(string name, HttpResponseMessage response)
    {
        string[] selected = ["Content-Type", "Content-Length", "Content-Language", "Location", "Cache-Control", "Set-Cookie", "ETag"];
        var lines = response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated)
            .Where(h => selected.Contains(h.Key, StringComparer.OrdinalIgnoreCase) || h.Key.StartsWith("X-", StringComparison.OrdinalIgnoreCase))
            .Select(h => $"{h.Key.ToLowerInvariant()}: {string.Join(" | ", h.Value)}")
            .Order(StringComparer.Ordinal);
        return $"{name}:\n{string.Join("\n", lines)}";
    }

    /// <summary>
    /// Starts a RingServer with <paramref name="app"/>, runs <paramref name="test"/> (which disposes its clients),
    /// then checks: no connection left, nothing logged at Warning or above, and after disposal the same number
    /// of transport fds (sockets, io_uring, eventfd) as before the start.
    /// </summary>
    private static async Task WithServerAsync(RequestDelegate app, Func<RingServer, Task> test)
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        await using (RingServer server = await RingServer.StartAsync(app))
        {
            try
            {
                await test(server);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"{ex.GetType().Name}: {ex.Message}\n--- server log ---\n{server.Logs.Dump()}", ex);
            }
            await server.WaitForNoConnectionsAsync();
            Assert.Equal(0, server.ActiveConnections);
            Assert.Empty(server.Logs.AtOrAbove(LogLevel.Warning));
        }
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    /// <summary>The application behind most tests; one instance per test, so its records are that test's.</summary>
    private sealed class HttpApp
    {
        public const int GatedParts = 5;
        public const int GatedPartSize = 5000;
        private int _gateArrivals;

        /// <summary>Requests per connection id.</summary>
        public ConcurrentDictionary<string, int> ConnectionIds { get; } = new();

        public ConcurrentDictionary<int, byte> RemotePorts { get; } = new();

        /// <summary>The first <see cref="GateCount"/> /concurrent requests wait for <see cref="ReleaseGate"/>.</summary>
        public int GateCount { get; init; }

        public TaskCompletionSource AllGated { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>/chunked-gated writes its first part, then waits for this before the rest.</summary>
        public TaskCompletionSource ChunkGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static string ConcurrentBody(int index) => string.Concat(Enumerable.Repeat($"item-{index};", index % 50 + 1));

        public static byte[] PipeBody(int index) =>
            [.. Encoding.ASCII.GetBytes($"response {index}\n"), .. DeterministicBytes.Create((ulong)index, index * 8192)];

        public static byte[] GatedPart(int part) => DeterministicBytes.Create(1000 + (ulong)part, GatedPartSize);

        public static byte[] ChunkedBody(int parts, int size) =>
            Enumerable.Range(0, parts).SelectMany(p => DeterministicBytes.Create(2000 + (ulong)p, size)).ToArray();

        public async Task HandleAsync(HttpContext context)
        {
            HttpRequest request = context.Request;
            HttpResponse response = context.Response;
            ConnectionIds.AddOrUpdate(context.Connection.Id, 1, (_, n) => n + 1);
            RemotePorts.TryAdd(context.Connection.RemotePort, 0);
            response.Headers["X-Connection-Id"] = context.Connection.Id;
            string path = request.Path.Value ?? "";

            if (path == "/hello" && HttpMethods.IsGet(request.Method))
            {
                response.ContentType = "text/plain; charset=utf-8";
                response.Headers["X-Custom"] = "ring";
                if (request.Headers.TryGetValue("X-Client", out var clientHeader))
                {
                    response.Headers["X-Client-Echo"] = clientHeader;
                }
                byte[] body = Encoding.UTF8.GetBytes($"hello {request.Query["name"]}");
                response.ContentLength = body.Length;
                await response.Body.WriteAsync(body);
            }
            else if (path == "/items" && HttpMethods.IsPost(request.Method))
            {
                using var reader = new StreamReader(request.Body, Encoding.UTF8);
                string json = await reader.ReadToEndAsync();
                response.StatusCode = StatusCodes.Status201Created;
                response.Headers.Location = "/items/42";
                response.ContentType = "application/json";
                await response.WriteAsync($"{{\"received\":{json},\"contentType\":\"{request.ContentType}\",\"length\":{request.ContentLength}}}");
            }
            else if (path == "/hash" && HttpMethods.IsPost(request.Method))
            {
                context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;
                response.Headers["X-Request-Transfer-Encoding"] = request.Headers.TransferEncoding.Count > 0 ? request.Headers.TransferEncoding.ToString() : "none";
                response.Headers["X-Request-Content-Length"] = request.ContentLength?.ToString(CultureInfo.InvariantCulture) ?? "none";
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long length = 0;
                while (true)
                {
                    System.IO.Pipelines.ReadResult read = await request.BodyReader.ReadAsync(context.RequestAborted);
                    foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                    {
                        hash.AppendData(segment.Span);
                        length += segment.Length;
                    }
                    request.BodyReader.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        break;
                    }
                }
                await response.WriteAsync($"{Convert.ToHexString(hash.GetHashAndReset())} {length}");
            }
            else if (path == "/download")
            {
                ulong seed = ulong.Parse(request.Query["seed"]!, CultureInfo.InvariantCulture);
                long length = long.Parse(request.Query["length"]!, CultureInfo.InvariantCulture);
                response.ContentLength = length;
                System.IO.Pipelines.PipeWriter writer = response.BodyWriter;
                for (long position = 0; position < length;)
                {
                    Memory<byte> memory = writer.GetMemory(64 * 1024);
                    int n = (int)Math.Min(Math.Min(memory.Length, 64 * 1024), length - position);
                    DeterministicBytes.Fill(seed, position, memory.Span[..n]);
                    writer.Advance(n);
                    position += n;
                    System.IO.Pipelines.FlushResult flushed = await writer.FlushAsync(context.RequestAborted);
                    if (flushed.IsCompleted || flushed.IsCanceled)
                    {
                        break;
                    }
                }
            }
            else if (path.StartsWith("/concurrent/", StringComparison.Ordinal))
            {
                int index = int.Parse(path["/concurrent/".Length..], CultureInfo.InvariantCulture);
                int arrival = Interlocked.Increment(ref _gateArrivals);
                if (arrival <= GateCount)
                {
                    if (arrival == GateCount)
                    {
                        AllGated.TrySetResult();
                    }
                    await ReleaseGate.Task.WaitAsync(Timeout);
                }
                byte[] body = Encoding.ASCII.GetBytes(ConcurrentBody(index));
                response.ContentLength = body.Length;
                await response.Body.WriteAsync(body);
            }
            else if (path.StartsWith("/pipe/", StringComparison.Ordinal))
            {
                int index = int.Parse(path["/pipe/".Length..], CultureInfo.InvariantCulture);
                Assert.Equal(index.ToString(CultureInfo.InvariantCulture), request.Headers["X-Index"].ToString());
                response.Headers["X-Request-Index"] = index.ToString(CultureInfo.InvariantCulture);
                byte[] body = PipeBody(index);
                response.ContentLength = body.Length;
                await response.Body.WriteAsync(body);
            }
            else if (path == "/chunked-gated")
            {
                await response.Body.WriteAsync(GatedPart(0));
                await response.Body.FlushAsync();
                await ChunkGate.Task.WaitAsync(Timeout);
                for (int part = 1; part < GatedParts; part++)
                {
                    await response.Body.WriteAsync(GatedPart(part));
                    await response.Body.FlushAsync();
                }
            }
            else if (path == "/chunked")
            {
                int parts = int.Parse(request.Query["parts"]!, CultureInfo.InvariantCulture);
                int size = int.Parse(request.Query["size"]!, CultureInfo.InvariantCulture);
                for (int part = 0; part < parts; part++)
                {
                    await response.Body.WriteAsync(DeterministicBytes.Create(2000 + (ulong)part, size));
                    await response.Body.FlushAsync();
                }
            }
            else
            {
                response.StatusCode = StatusCodes.Status404NotFound;
                await response.WriteAsync($"no endpoint {request.Method} {path}");
            }
        }
    }

    /// <summary>
    /// One application served both by TestServer (in memory, no transport) and by Kestrel on RingCore; whatever
    /// differs in what a client sees is the transport's doing. It sets Content-Length itself wherever it knows
    /// it, so that neither host has to add one.
    /// </summary>
    private static class OracleApp
    {
        private const int LargeSize = 1024 * 1024;

        public static IEnumerable<(string Name, Func<HttpRequestMessage> Create)> Cases()
        {
            yield return ("GET /hello", () => new HttpRequestMessage(HttpMethod.Get, "/hello"));
            yield return ("GET /headers", () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, "/headers");
                request.Headers.Add("X-Alpha", "1");
                request.Headers.Add("X-Beta", "two words");
                request.Headers.Add("x-gamma", "a, b");
                request.Headers.TryAddWithoutValidation("X-Multi", ["v1", "v2"]);
                return request;
            });
            yield return ("POST /echo text", () => new HttpRequestMessage(HttpMethod.Post, "/echo")
            {
                Content = new StringContent("hello oracle ✓", Encoding.UTF8, "text/plain"),
            });
            yield return ("POST /echo empty", () => new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent([]) });
            yield return ("POST /echo 300 KiB", () =>
            {
                var content = new ByteArrayContent(DeterministicBytes.Create(77, 300 * 1024));
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                return new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = content };
            });
            yield return ("PUT /echo chunked 100 KiB", () => new HttpRequestMessage(HttpMethod.Put, "/echo")
            {
                Content = new GeneratedContent(78, 100 * 1024, advertiseLength: false),
            });
            foreach (int code in new[] { 200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503 })
            {
                yield return ($"GET /status/{code}", () => new HttpRequestMessage(HttpMethod.Get, $"/status/{code}"));
            }
            yield return ("GET /query", () => new HttpRequestMessage(HttpMethod.Get, "/query?a=1&b=two%20words&a=3&empty=&c=%E2%9C%93&plus=x+y&amp=%26"));
            yield return ("GET /large", () => new HttpRequestMessage(HttpMethod.Get, "/large"));
            yield return ("GET /large-chunked", () => new HttpRequestMessage(HttpMethod.Get, "/large-chunked"));
            yield return ("GET /redirect", () => new HttpRequestMessage(HttpMethod.Get, "/redirect"));
            yield return ("GET /cookies", () => new HttpRequestMessage(HttpMethod.Get, "/cookies"));
            yield return ("DELETE /method", () => new HttpRequestMessage(HttpMethod.Delete, "/method"));
            yield return ("PATCH /method", () => new HttpRequestMessage(HttpMethod.Patch, "/method") { Content = new StringContent("x") });
            yield return ("OPTIONS /method", () => new HttpRequestMessage(HttpMethod.Options, "/method"));
            yield return ("GET /nope", () => new HttpRequestMessage(HttpMethod.Get, "/nope"));
        }

        public static async Task HandleAsync(HttpContext context)
        {
            HttpRequest request = context.Request;
            HttpResponse response = context.Response;
            string path = request.Path.Value ?? "";

            if (path == "/hello")
            {
                response.ContentType = "text/plain; charset=utf-8";
                await WriteTextAsync(response, "Hello from the oracle");
            }
            else if (path == "/headers")
            {
                var lines = request.Headers.Where(h => h.Key.StartsWith("X-", StringComparison.OrdinalIgnoreCase))
                    .OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase)
                    .Select(h => $"{h.Key.ToLowerInvariant()}={string.Join(", ", h.Value.ToArray())}") // as on the wire: one line, values joined
                    .ToList();
                response.Headers["X-Header-Count"] = lines.Count.ToString(CultureInfo.InvariantCulture);
                response.ContentType = "text/plain";
                await WriteTextAsync(response, string.Join("\n", lines));
            }
            else if (path == "/echo")
            {
                response.ContentType = request.ContentType ?? "application/octet-stream";
                response.Headers["X-Request-Method"] = request.Method;
                response.Headers["X-Request-Chunked"] = request.ContentLength is null ? "yes" : "no";
                if (request.ContentLength is long length)
                {
                    response.ContentLength = length;
                }
                await request.Body.CopyToAsync(response.Body);
            }
            else if (path.StartsWith("/status/", StringComparison.Ordinal))
            {
                int code = int.Parse(path["/status/".Length..], CultureInfo.InvariantCulture);
                response.StatusCode = code;
                response.Headers["X-Status"] = code.ToString(CultureInfo.InvariantCulture);
                if (code is not (204 or 304))
                {
                    response.ContentType = "text/plain";
                    await WriteTextAsync(response, $"status {code}");
                }
            }
            else if (path == "/query")
            {
                response.Headers["X-Raw-Query"] = request.QueryString.Value;
                await WriteTextAsync(response, string.Join("\n", request.Query.OrderBy(q => q.Key, StringComparer.Ordinal)
                    .Select(q => $"{q.Key}={string.Join("|", q.Value.ToArray())}")));
            }
            else if (path == "/large")
            {
                response.ContentType = "application/octet-stream";
                response.ContentLength = LargeSize;
                byte[] body = DeterministicBytes.Create(7, LargeSize);
                for (int offset = 0; offset < body.Length; offset += 64 * 1024)
                {
                    await response.Body.WriteAsync(body.AsMemory(offset, Math.Min(64 * 1024, body.Length - offset)));
                }
            }
            else if (path == "/large-chunked")
            {
                response.ContentType = "application/octet-stream";
                byte[] body = DeterministicBytes.Create(8, LargeSize);
                for (int offset = 0; offset < body.Length; offset += 16 * 1024)
                {
                    await response.Body.WriteAsync(body.AsMemory(offset, Math.Min(16 * 1024, body.Length - offset)));
                    await response.Body.FlushAsync();
                }
            }
            else if (path == "/redirect")
            {
                response.StatusCode = StatusCodes.Status302Found;
                response.Headers.Location = "/hello";
                response.ContentLength = 0;
            }
            else if (path == "/cookies")
            {
                response.Cookies.Append("first", "1", new CookieOptions { Path = "/", HttpOnly = true });
                response.Cookies.Append("second", "two words", new CookieOptions { MaxAge = TimeSpan.FromMinutes(5) });
                response.Headers.CacheControl = "no-store";
                response.Headers.ETag = "\"abc\"";
                response.Headers.ContentLanguage = "en";
                await WriteTextAsync(response, "cookies");
            }
            else if (path == "/method")
            {
                response.Headers["X-Request-Method"] = request.Method;
                await WriteTextAsync(response, $"method {request.Method} body {request.ContentLength?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
            }
            else
            {
                response.StatusCode = StatusCodes.Status404NotFound;
                await WriteTextAsync(response, $"no endpoint {request.Method} {path}");
            }
        }

        private static Task WriteTextAsync(HttpResponse response, string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            response.ContentLength = bytes.Length;
            return response.Body.WriteAsync(bytes).AsTask();
        }
    }
}
