using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RingCore.Transport.Interop;
using RingCore.Transport.Listening;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Listening;

/// <summary>
/// Bind failures carry the types Kestrel's address binding expects of a transport (those of its Sockets
/// transport): AddressInUseException for a port in use, a SocketException with the right SocketError otherwise, and
/// never an IOException, which would stop Kestrel's IPv6-to-IPv4 and localhost fallbacks. Binds only; nothing is sent.
/// </summary>
[Collection(ServerCollection.Name)] // the factory test counts ring threads
public sealed class ListenErrorsTests
{
    // TEST-NET-1 (RFC 5737): never assigned to a host, so binding it fails with EADDRNOTAVAIL.
    private static readonly IPEndPoint NotOnThisHost = new(IPAddress.Parse("192.0.2.1"), 0);

    [Fact]
    public void A_port_in_use_is_AddressInUseException_over_a_SocketException()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen(1);
        var endPoint = (IPEndPoint)taken.LocalEndPoint!;

        var error = Assert.Throws<AddressInUseException>(() => ListenSockets.BindTcpGroup(endPoint, 2, 16, noDelay: true));

        var inner = Assert.IsType<SocketException>(error.InnerException);
        Assert.Equal(SocketError.AddressAlreadyInUse, inner.SocketErrorCode);
        Assert.Equal(98, inner.NativeErrorCode); // EADDRINUSE
        Assert.Equal($"bind() for {endPoint} failed: Address already in use (errno 98)", error.Message);
    }

    [Fact]
    public void An_address_not_on_this_host_is_SocketException_AddressNotAvailable_as_with_Sockets()
    {
        var error = Assert.Throws<SocketException>(() => ListenSockets.BindTcpGroup(NotOnThisHost, 2, 16, noDelay: true));

        Assert.Equal(SocketError.AddressNotAvailable, error.SocketErrorCode);
        Assert.Equal(99, error.NativeErrorCode); // EADDRNOTAVAIL
        Assert.Equal("bind() for 192.0.2.1:0 failed: Cannot assign requested address (errno 99)", error.Message);

        // What Kestrel's Sockets transport gets from .NET for the same bind.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var sockets = Assert.Throws<SocketException>(() => socket.Bind(NotOnThisHost));
        Assert.Equal(sockets.SocketErrorCode, error.SocketErrorCode);
        Assert.Equal(sockets.NativeErrorCode, error.NativeErrorCode);
    }

    [Fact]
    public async Task The_factory_passes_the_SocketException_to_Kestrel_unwrapped_and_releases_its_rings()
    {
        var runtime = new RingCoreRuntime(
            Options.Create(new RingCoreTransportOptions { RingThreadCount = 2, WhenUnavailable = RingCoreUnavailableBehavior.Throw }),
            new ServiceCollection().BuildServiceProvider(), NullLoggerFactory.Instance);
        await using (runtime)
        {
            var factory = new RingCoreTransportFactory(runtime);
            var error = await Assert.ThrowsAsync<SocketException>(() => factory.BindAsync(NotOnThisHost).AsTask()).WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(SocketError.AddressNotAvailable, error.SocketErrorCode);
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
    }

    /// <summary>
    /// The errno table agrees with .NET's own mapping: for each entry, the errno .NET gives back for that SocketError
    /// (SocketException.NativeErrorCode) is one the table maps to the same SocketError. (Several errnos share one
    /// SocketError, e.g. EPERM and EACCES, so .NET cannot give back every errno itself.)
    /// </summary>
    [Fact]
    public void The_errno_table_agrees_with_the_runtime()
    {
        foreach (var (errno, socketError) in SocketErrors.ByErrno)
        {
            if (socketError == SocketError.HostNotFound)
            {
                continue; // .NET maps it back to a resolver error of its own, not to an errno (ENXIO is a guess there too)
            }
            int roundTrip = new SocketException((int)socketError).NativeErrorCode;
            Assert.True(SocketErrors.ToSocketError(roundTrip) == socketError,
                $"errno {errno} -> {socketError} -> errno {roundTrip} -> {SocketErrors.ToSocketError(roundTrip)}");
        }
        Assert.Equal(SocketError.SocketError, SocketErrors.ToSocketError(12)); // ENOMEM: .NET has no SocketError for it
    }

    [Fact]
    public void No_failure_is_an_IOException_so_Kestrel_can_fall_back()
    {
        foreach (int errno in SocketErrors.ByErrno.Keys.Append(12))
        {
            Exception error = ListenErrors.Failed("bind()", NotOnThisHost, errno);
            Assert.IsNotAssignableFrom<IOException>(error);
            Assert.Equal(errno == 98 ? typeof(AddressInUseException) : typeof(SocketException), error.GetType());
        }
    }
}
