using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

[Collection(ServerCollection.Name)]
public sealed class ObservabilityTests
{
    [Fact]
    public async Task MetricsCountRealTraffic()
    {
        byte[] body = new byte[100_000];
        await using var server = await RingServer.StartAsync(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.Body.WriteAsync(body);
        });
        using var metrics = new HostMetrics(server.Services);
        var before = metrics.Read();
        long Delta(IReadOnlyDictionary<string, long> after, string name) => after.GetValueOrDefault(name) - before.GetValueOrDefault(name);

        using (var client = new HttpClient { BaseAddress = server.BaseAddress })
        {
            for (int i = 0; i < 5; i++)
            {
                var response = await client.PostAsync("/", new ByteArrayContent(new byte[10_000]));
                Assert.Equal(body.Length, (await response.Content.ReadAsByteArrayAsync()).Length);
            }
        }
        await server.WaitForNoConnectionsAsync();

        var after = metrics.Read();
        Assert.Equal(1, Delta(after, "ringcore.opened_connections"));
        Assert.Equal(1, Delta(after, "ringcore.closed_connections"));
        Assert.Equal(0, after["ringcore.active_connections"]);
        Assert.True(Delta(after, "ringcore.network.io/receive") >= 5 * 10_000, $"received {Delta(after, "ringcore.network.io/receive")}");
        Assert.True(Delta(after, "ringcore.network.io/transmit") >= 5 * body.Length, $"sent {Delta(after, "ringcore.network.io/transmit")}");
        Assert.True(Delta(after, "ringcore.io_uring.enters") > 0);
        Assert.True(Delta(after, "ringcore.io_uring.submissions") > 0);
        Assert.True(Delta(after, "ringcore.io_uring.completions") > 0);
        Assert.True(Delta(after, "ringcore.syscalls") >= Delta(after, "ringcore.io_uring.enters"));
        Assert.Equal(0, after["ringcore.fallbacks"]);
        Assert.Contains("ringcore.io_uring.cq_overflows", after.Keys);
        Assert.Contains("ringcore.buffer_ring.exhausted_receives", after.Keys);
        Assert.Contains("ringcore.accept.pauses", after.Keys);
        Assert.Contains("ringcore.ring.wakeups", after.Keys);
        Assert.DoesNotContain("ringcore.ring.takeovers", after.Keys); // rings never change threads
        Assert.Contains(metrics.CompletionsPerEnter, m => m.Value > 0 && m.Ring is int);
        Assert.Equal([0, 1], metrics.RingIndexes.Cast<int>().Order()); // per-ring measurements of both ring threads
    }

    /// <summary>
    /// Two hosts in one process: a listener scoped to one host's IMeterFactory sees that host's connections only,
    /// while a process-wide listener sees both meters (same name, different scope).
    /// </summary>
    [Fact]
    public async Task MetricsAreScopedToTheirHost()
    {
        await using var first = await RingServer.StartAsync(context => context.Response.WriteAsync("first"));
        await using var second = await RingServer.StartAsync(context => context.Response.WriteAsync("second"));
        using var firstMetrics = new HostMetrics(first.Services);
        using var secondMetrics = new HostMetrics(second.Services);
        using var everyHost = new HostMetrics(null);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        async Task RequestAsync(RingServer server)
        {
            using var client = await RawClient.ConnectAsync(server.LoopbackEndPoint, cts.Token);
            await client.SendAsync(RawClient.Get("/", close: true), cts.Token);
            Assert.Equal(200, (await client.ReadHeadersAsync(cts.Token)).Status);
        }
        for (int i = 0; i < 2; i++)
        {
            await RequestAsync(first);
        }
        for (int i = 0; i < 3; i++)
        {
            await RequestAsync(second);
        }
        await first.WaitForNoConnectionsAsync();
        await second.WaitForNoConnectionsAsync();

        Assert.Equal(2, firstMetrics.Read()["ringcore.opened_connections"]);
        Assert.Equal(3, secondMetrics.Read()["ringcore.opened_connections"]);
        Assert.Equal(5, everyHost.Read()["ringcore.opened_connections"]);
        Assert.Equal(2, first.Factory.Metrics.Total().ConnectionsOpened);
    }

    /// <summary>Without an IMeterFactory the transport makes its own meter, and its instruments go away with it.</summary>
    [Fact]
    public void WithoutAMeterFactoryTheMeterIsOwnedAndDisposedWithTheTransport()
    {
        var published = new List<System.Diagnostics.Metrics.Instrument>();
        int completed = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == RingCoreMetrics.MeterName && instrument.Meter.Scope is null)
                {
                    published.Add(instrument);
                    l.EnableMeasurementEvents(instrument);
                }
            },
            MeasurementsCompleted = (_, _) => Interlocked.Increment(ref completed),
        };
        listener.Start();

        var metrics = TransportMetrics.Create(meterFactory: null);
        Assert.Contains(published, i => i.Name == "ringcore.opened_connections");
        int count = published.Count;
        metrics.Dispose();
        Assert.Equal(count, Volatile.Read(ref completed));
    }

    [Fact]
    public async Task ConnectionsOfferSocketFeatureAndEndPoints()
    {
        var seen = new TaskCompletionSource<(bool NoDelay, EndPoint? Local, EndPoint? Remote, EndPoint? SocketLocal)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await RingServer.StartAsync(
            context => context.Response.WriteAsync("ok"),
            configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
            {
                Socket socket = connection.Features.Get<IConnectionSocketFeature>()!.Socket;
                seen.TrySetResult((socket.NoDelay, connection.LocalEndPoint, connection.RemoteEndPoint, socket.LocalEndPoint));
                socket.Dispose(); // does not own the fd: the connection must keep working
                await next(connection);
            })));

        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal("ok", await client.GetStringAsync("/"));
        var (noDelay, local, remote, socketLocal) = await seen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(noDelay);
        Assert.Equal(server.LoopbackEndPoint, local);
        Assert.Equal(local, socketLocal);
        var remoteIp = Assert.IsType<IPEndPoint>(remote);
        Assert.Equal(IPAddress.Loopback, remoteIp.Address);
        Assert.NotEqual(0, remoteIp.Port);
        Assert.Equal("ok", await client.GetStringAsync("/")); // same connection, still served
    }

    [Fact]
    public async Task StartupLogsOneLineForTheRingSetSayingWhatTheRingsGot()
    {
        // Three listeners share one ring set: one line says what it is, and each listener a short line of its own.
        await using var server = await RingServer.StartAsync(context => Task.CompletedTask, configureKestrel: options =>
        {
            options.Listen(System.Net.IPAddress.Loopback, 0);
            options.Listen(System.Net.IPAddress.Loopback, 0);
            options.Listen(System.Net.IPAddress.Loopback, 0);
        });
        var lines = server.Logs.Entries.Where(e => e.Category == "RingCore.Transport" && e.EventId.Id == 1).ToList();
        var line = Assert.Single(lines);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Contains("2 io_uring ring(s)", line.Message);
        Assert.Contains("rings 0-1", line.Message);
        var listening = server.Logs.Entries.Where(e => e.Category == "RingCore.Transport" && e.EventId.Id == 18).ToList();
        Assert.Equal(3, listening.Count);
        Assert.All(listening, e => Assert.Contains("on rings 0-1", e.Message, StringComparison.Ordinal));
        Assert.Contains(listening, e => e.Message.Contains($"127.0.0.1:{server.Port}", StringComparison.Ordinal));
        // Every ring is tied to the one thread that made it (Linux 6.1+).
        Assert.Contains("SINGLE_ISSUER|DEFER_TASKRUN", line.Message);
        Assert.Contains("registered ring fd yes", line.Message);
    }
}
