using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// Where application code runs: on the thread pool by default (and with the obsolete Inline value, and whenever
/// Kestrel allows synchronous I/O), so a handler that blocks holds only its own request; on the ring thread with the
/// UnsafeInline opt-in, whose user is told when a handler blocks a ring thread.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class SchedulingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const int RingThreadStalledEvent = 11;
    private const int SynchronousIoUsesThreadPoolEvent = 12;
    private const int InlineSchedulingIsThreadPoolEvent = 17;

    /// <summary>
    /// A server whose GET /block handler blocks its thread at <paramref name="gate"/> (the anti-pattern: a
    /// synchronous wait), reporting whether that is a ring thread; every other path answers "done".
    /// </summary>
    private static Task<RingServer> StartBlockingServerAsync(HandlerGate gate, Action<RingCoreTransportOptions> configureTransport) =>
        RingServer.StartAsync(context =>
        {
            if (context.Request.Path == "/block")
            {
                Assert.True(gate.Hold(Timeout));
            }
            return context.Response.WriteAsync("done");
        }, configureTransport: configureTransport);

    /// <summary>
    /// Sends GET <paramref name="path"/> on <paramref name="client"/>'s keep-alive connection until its handler blocks a ring thread
    /// at <paramref name="gate"/>, and returns the still-pending response. Kestrel runs a later request of a
    /// connection on the thread-pool thread that served the one before when the request is already there as that
    /// thread comes back to read (about once in 500 attempts); such an attempt is let go, answered, and made again.
    /// </summary>
    private static async Task<Task<string>> BlockARingThreadAsync(HttpClient client, HandlerGate gate, string path = "/block")
    {
        for (int attempt = 1; ; attempt++)
        {
            Task<bool> onRingThread = gate.Close();
            Task<string> blocked = client.GetStringAsync(path);
            if (await onRingThread.WaitAsync(Timeout))
            {
                return blocked;
            }
            gate.Open();
            Assert.Equal("done", await blocked.WaitAsync(Timeout));
            Assert.True(attempt < 5, "five /block requests in a row ran on the thread pool, not on a ring thread");
        }
    }

    [Fact]
    public async Task WithUnsafeInlineHandlersRunOnTheRingThreadAndOneThatBlocksItIsReportedOnce()
    {
        using var release = new HandlerGate();
        await using var server = await StartBlockingServerAsync(release, options =>
        {
            options.RingThreadCount = 1;
            options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline;
        });

        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        // The first request of a connection may start on the thread pool (Kestrel starts connections there and
        // the data can already be waiting); the next one on the same connection arrives while its read is pending.
        Assert.Equal("done", await client.GetStringAsync("/warm-up"));
        Task<string> blocked = await BlockARingThreadAsync(client, release);

        LogCapture.LogEntry warning = await server.Logs.WaitForAsync(e => e.EventId.Id == RingThreadStalledEvent, Timeout);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("ApplicationScheduling = UnsafeInline", warning.Message, StringComparison.Ordinal);

        release.Open();
        Assert.Equal("done", await blocked.WaitAsync(Timeout));
        Assert.Equal("done", await client.GetStringAsync("/after")); // the ring serves again
        Assert.Single(server.Logs.Entries, e => e.EventId.Id == RingThreadStalledEvent);
    }

    [Theory]
    [InlineData(false)] // the default options
    [InlineData(true)]  // the obsolete Inline value, which behaves as ThreadPool and says so once
    public async Task ByDefaultAHandlerNeverRunsOnTheRingThreadAndOneThatBlocksHoldsOnlyItsOwnRequest(bool obsoleteInline)
    {
        using var release = new HandlerGate();
        await using var server = await StartBlockingServerAsync(release, options =>
        {
            options.RingThreadCount = 1;
            if (obsoleteInline)
            {
#pragma warning disable CS0618 // the obsolete value is what this tests
                options.ApplicationScheduling = RingCoreApplicationScheduling.Inline;
#pragma warning restore CS0618
            }
        });

        using var blockedClient = new HttpClient { BaseAddress = server.BaseAddress };
        using var otherClient = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal("done", await blockedClient.GetStringAsync("/warm-up"));
        // Ten keep-alive requests in a row, each held at the gate: none of them runs on a ring thread (with the old
        // inline default most would have), and the only ring serves another connection while each is held.
        for (int i = 0; i < 10; i++)
        {
            Task<bool> onRingThread = release.Close();
            Task<string> blocked = blockedClient.GetStringAsync("/block");
            Assert.False(await onRingThread.WaitAsync(Timeout), "the handler ran on a ring thread");
            Assert.Equal("done", await otherClient.GetStringAsync("/other").WaitAsync(Timeout));
            Assert.False(blocked.IsCompleted);
            release.Open();
            Assert.Equal("done", await blocked.WaitAsync(Timeout));
        }
        Assert.Equal(1, ProcessResources.RingThreadCount()); // one thread per io_uring, and no other
        Assert.DoesNotContain(server.Logs.Entries, e => e.EventId.Id == RingThreadStalledEvent);
        Assert.Equal(obsoleteInline ? 1 : 0, server.Logs.Entries.Count(e => e.EventId.Id == InlineSchedulingIsThreadPoolEvent));
    }

    [Fact]
    public async Task WhenKestrelAllowsSynchronousIoEvenUnsafeInlineRunsHandlersOnTheThreadPool()
    {
        var threadNames = new List<string>();
        await using var server = await RingServer.StartAsync(context =>
        {
            lock (threadNames)
            {
                threadNames.Add(Thread.CurrentThread.Name ?? "(unnamed)");
            }
            // Synchronous reads of a body that arrives in pieces: on a ring thread this would wait for itself.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[8192];
            int read;
            while ((read = context.Request.Body.Read(buffer)) > 0)
            {
                hash.AppendData(buffer.AsSpan(0, read));
            }
            byte[] answer = System.Text.Encoding.ASCII.GetBytes(Convert.ToHexString(hash.GetHashAndReset()));
            context.Response.ContentLength = answer.Length;
            context.Response.Body.Write(answer);
            return Task.CompletedTask;
        }, configureTransport: options =>
        {
            options.RingThreadCount = 1;
            options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline; // overridden: see event 12
        },
        configureKestrel: options =>
        {
            options.AllowSynchronousIO = true;
            options.Listen(System.Net.IPAddress.Loopback, 0);
        });

        byte[] body = RandomNumberGenerator.GetBytes(1024 * 1024);
        using (var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout })
        {
            for (int i = 0; i < 3; i++)
            {
                using var content = new StreamContent(new TrickleStream(body, chunk: 16 * 1024));
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                content.Headers.ContentLength = body.Length;
                using HttpResponseMessage response = await client.PostAsync("/hash", content);
                Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), await response.Content.ReadAsStringAsync());
            }
        }
        Assert.All(threadNames, name => Assert.DoesNotContain("RingCore ring", name, StringComparison.Ordinal));
        await server.WaitForNoConnectionsAsync(); // HttpClient disposal closes the keep-alive connection

        LogCapture.LogEntry info = await server.Logs.WaitForAsync(e => e.EventId.Id == SynchronousIoUsesThreadPoolEvent, Timeout);
        Assert.Equal(LogLevel.Information, info.Level);
    }

    /// <summary>A request body that yields between chunks, so the server sees it arrive in pieces.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : Stream
    {
        private int _position;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            int n = Math.Min(Math.Min(chunk, buffer.Length), data.Length - _position);
            data.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
