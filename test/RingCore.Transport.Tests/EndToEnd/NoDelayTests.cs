using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// TCP_NODELAY reaches every accepted connection, whether it came from the listener (which the transport creates with
/// the option, so that connections inherit it without a setsockopt each) or had to be set one by one (an adopted
/// listening socket without it: that socket itself is left as it was).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class NoDelayTests
{
    private const int Connections = 12;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EveryConnectionOfOurOwnListenersHasNoDelayExactlyWhenAskedFor(bool noDelay)
    {
        var seen = new ConcurrentQueue<bool>();
        await using var server = await RingServer.StartAsync(
            RespondOk,
            configureTransport: options =>
            {
                options.NoDelay = noDelay;
                options.RingThreadCount = 2; // both listeners of the SO_REUSEPORT group, each ring's first connection included
            },
            configureKestrel: options => options.Listen(IPAddress.Loopback, 0, listen => RecordNoDelay(listen, seen)));

        await OpenConnectionsAsync(server.LoopbackEndPoint);

        Assert.Equal(Connections, seen.Count);
        Assert.All(seen, value => Assert.Equal(noDelay, value));
    }

    [Fact]
    public async Task ConnectionsOfAnAdoptedListenerWithoutNoDelayGetItSetAndTheListenerIsLeftAlone()
    {
        using var listenSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listenSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listenSocket.Listen(64);
        Assert.False(listenSocket.NoDelay);
        var endPoint = (IPEndPoint)listenSocket.LocalEndPoint!;
        var seen = new ConcurrentQueue<bool>();

        await using (var server = await RingServer.StartAsync(
            RespondOk,
            configureKestrel: options => options.ListenHandle((ulong)listenSocket.Handle, listen => RecordNoDelay(listen, seen))))
        {
            await OpenConnectionsAsync(endPoint);
        }

        Assert.Equal(Connections, seen.Count);
        Assert.All(seen, Assert.True);
        Assert.False(listenSocket.NoDelay);
    }

    /// <summary>"ok" with a Content-Length, which the raw clients read by.</summary>
    private static Task RespondOk(HttpContext context)
    {
        context.Response.ContentLength = 2;
        return context.Response.WriteAsync("ok");
    }

    private static void RecordNoDelay(ListenOptions listen, ConcurrentQueue<bool> seen) =>
        listen.Use(next => connection =>
        {
            seen.Enqueue(connection.Features.Get<IConnectionSocketFeature>()!.Socket.NoDelay);
            return next(connection);
        });

    /// <summary>One request on each of <see cref="Connections"/> connections, all open at once.</summary>
    private static async Task OpenConnectionsAsync(IPEndPoint endPoint)
    {
        using var burst = await Burst.ConnectAsync(endPoint, Connections);
        await burst.SendAllAsync(RawClient.Get("/"));
        await burst.ExpectAllAsync(1, "ok"u8.ToArray());
    }
}
