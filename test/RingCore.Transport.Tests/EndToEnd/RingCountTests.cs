using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// How many ring threads a server starts: one per 2 cores (at least one) when application code runs on the thread
/// pool, one per core when it runs on the rings, exactly the number asked for otherwise.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class RingCountTests
{
    [Theory]
    [InlineData(RingCoreApplicationScheduling.ThreadPool, 1, 1)]
    [InlineData(RingCoreApplicationScheduling.ThreadPool, 2, 1)]
    [InlineData(RingCoreApplicationScheduling.ThreadPool, 3, 2)]
    [InlineData(RingCoreApplicationScheduling.ThreadPool, 4, 2)]
    [InlineData(RingCoreApplicationScheduling.ThreadPool, 8, 4)]
    [InlineData(RingCoreApplicationScheduling.ThreadPool, 64, 32)]
    [InlineData(RingCoreApplicationScheduling.UnsafeInline, 1, 1)]
    [InlineData(RingCoreApplicationScheduling.UnsafeInline, 2, 2)]
    [InlineData(RingCoreApplicationScheduling.UnsafeInline, 64, 64)]
    public void TheDefaultFollowsWhereApplicationCodeRuns(RingCoreApplicationScheduling scheduling, int cores, int rings) =>
        Assert.Equal(rings, RingCoreTransportOptions.DefaultRingThreadCount(scheduling, cores));

    [Theory]
    [InlineData(null, RingCoreApplicationScheduling.ThreadPool)]
    [InlineData(null, RingCoreApplicationScheduling.UnsafeInline)]
    [InlineData(3, RingCoreApplicationScheduling.ThreadPool)]
    public Task AServerStartsThatManyRingThreadsAndServesOnThem(int? asked, RingCoreApplicationScheduling scheduling) =>
        AssertServesOnRingThreadsAsync(
            asked ?? RingCoreTransportOptions.DefaultRingThreadCount(scheduling, Environment.ProcessorCount),
            options =>
            {
                options.RingThreadCount = asked; // RingServer fixes 2 rings for every other test; null asks for the default
                options.ApplicationScheduling = scheduling;
            });

    [Fact]
    public Task UnsafeInlineOverriddenByAllowSynchronousIoStartsTheThreadPoolCount() =>
        // Application code runs on the thread pool (event 12), so the rings only move bytes.
        AssertServesOnRingThreadsAsync(
            RingCoreTransportOptions.DefaultRingThreadCount(RingCoreApplicationScheduling.ThreadPool, Environment.ProcessorCount),
            options =>
            {
                options.RingThreadCount = null;
                options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline;
            },
            configureKestrel: options => options.AllowSynchronousIO = true,
            expectedEvent: 12);

    /// <summary>Starts a server, checks its ring thread count (and an event it must log), serves one request, stops.</summary>
    private static async Task AssertServesOnRingThreadsAsync(int expected, Action<RingCoreTransportOptions> configureTransport,
        Action<KestrelServerOptions>? configureKestrel = null, int? expectedEvent = null)
    {
        await ProcessResources.WaitForNoRingThreadsAsync(); // those of an earlier test may still be exiting
        await using (var server = await RingServer.StartAsync(context => context.Response.WriteAsync("ok"), configureTransport, configureKestrel))
        {
            Assert.Equal(expected, ProcessResources.RingThreadCount());
            if (expectedEvent is int id)
            {
                await server.Logs.WaitForAsync(e => e.EventId.Id == id, TimeSpan.FromSeconds(10));
            }
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
    }
}
