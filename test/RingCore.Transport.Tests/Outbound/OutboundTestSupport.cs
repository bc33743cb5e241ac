using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Outbound;

internal static class OutboundTestSupport
{
    /// <summary>A connection factory with two rings of its own that must run on io_uring (tests never fall back).</summary>
    public static RingCoreConnectionFactory NewFactory(LogCapture? logs = null) => new(
        new RingCoreTransportOptions { RingThreadCount = 2, WhenUnavailable = RingCoreUnavailableBehavior.Throw },
        logs is null ? null : LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(logs)));

    /// <summary>Operations (connections, connects) registered on the factory's rings right now.</summary>
    public static int RingOwners(RingCoreConnectionFactory factory) => factory.Runtime.Group.Threads.Sum(t => t.OwnerCount);

    public static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits for a condition that changes without an event to await (operation registrations, closes on a ring,
    /// fds another party closes); looks every 5 ms and fails with <paramref name="failure"/>'s text after
    /// <see cref="TestTimeout"/>.
    /// </summary>
    public static Task WaitUntilAsync(Func<bool> condition, Func<string> failure) => Polling.UntilAsync(condition, TestTimeout, failure);
}
