using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

[Collection(ServerCollection.Name)]
public sealed class ObservabilityTests
{
    [Fact]
    public async Task MetricsCountRealTraffic()
    {
        var longs = new ConcurrentDictionary<string, long>();
        var cqesPerEnter = new ConcurrentBag<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RingCoreMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => longs[instrument.Name] = value);
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => cqesPerEnter.Add(value));
        listener.Start();

        listener.RecordObservableInstruments();
        var before = new Dictionary<string, long>(longs);
        long Delta(string name) => longs.GetValueOrDefault(name) - before.GetValueOrDefault(name);

        byte[] body = new byte[100_000];
        await using (var server = await RingServer.StartAsync(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.Body.WriteAsync(body);
        }))
        {
            using (var client = new HttpClient { BaseAddress = server.BaseAddress })
            {
                for (int i = 0; i < 5; i++)
                {
                    var response = await client.PostAsync("/", new ByteArrayContent(new byte[10_000]));
                    Assert.Equal(body.Length, (await response.Content.ReadAsByteArrayAsync()).Length);
                }
            }
            await server.WaitForNoConnectionsAsync();
        }

        listener.RecordObservableInstruments();
        Assert.Equal(1, Delta("ringcore.connections.opened"));
        Assert.Equal(1, Delta("ringcore.connections.closed"));
        Assert.True(Delta("ringcore.bytes.received") >= 5 * 10_000, $"received {Delta("ringcore.bytes.received")}");
        Assert.True(Delta("ringcore.bytes.sent") >= 5 * body.Length, $"sent {Delta("ringcore.bytes.sent")}");
        Assert.True(Delta("ringcore.io_uring.enters") > 0);
        Assert.True(Delta("ringcore.io_uring.sqes_submitted") > 0);
        Assert.True(Delta("ringcore.io_uring.cqes_reaped") > 0);
        Assert.True(Delta("ringcore.syscalls") >= Delta("ringcore.io_uring.enters"));
        Assert.Equal(0, Delta("ringcore.fallbacks"));
        Assert.Contains(cqesPerEnter, n => n > 0);
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
    public async Task StartupLogsOneLineSayingWhatTheRingGot()
    {
        await using var server = await RingServer.StartAsync(context => Task.CompletedTask);
        var lines = server.Logs.Entries.Where(e => e.Category == "RingCore.Transport" && e.EventId.Id == 1).ToList();
        var line = Assert.Single(lines);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Contains($"127.0.0.1:{server.Port}", line.Message);
        Assert.Contains("SINGLE_ISSUER|DEFER_TASKRUN", line.Message);
        Assert.Contains("2 io_uring thread(s)", line.Message);
    }
}
