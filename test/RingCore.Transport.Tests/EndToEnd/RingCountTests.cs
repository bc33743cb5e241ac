using Microsoft.AspNetCore.Http;
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
    public async Task AServerStartsThatManyRingThreadsAndServesOnThem(int? asked, RingCoreApplicationScheduling scheduling)
    {
        await ProcessResources.WaitForNoRingThreadsAsync(); // those of an earlier test may still be exiting
        int expected = asked ?? RingCoreTransportOptions.DefaultRingThreadCount(scheduling, Environment.ProcessorCount);

        // RingServer fixes 2 rings for every other test; null here asks for the default.
        await using (var server = await RingServer.StartAsync(context => context.Response.WriteAsync("ok"), configureTransport: options =>
        {
            options.RingThreadCount = asked;
            options.ApplicationScheduling = scheduling;
        }))
        {
            Assert.Equal(expected, ProcessResources.RingThreadCount());
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
    }

    [Fact]
    public async Task UnsafeInlineOverriddenByAllowSynchronousIoStartsTheThreadPoolCount()
    {
        await ProcessResources.WaitForNoRingThreadsAsync();
        await using (var server = await RingServer.StartAsync(context => context.Response.WriteAsync("ok"),
            configureTransport: options =>
            {
                options.RingThreadCount = null;
                options.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline;
            },
            configureKestrel: options => options.AllowSynchronousIO = true))
        {
            // Application code runs on the thread pool (event 12), so the rings only move bytes.
            Assert.Equal(RingCoreTransportOptions.DefaultRingThreadCount(RingCoreApplicationScheduling.ThreadPool, Environment.ProcessorCount),
                ProcessResources.RingThreadCount());
            await server.Logs.WaitForAsync(e => e.EventId.Id == 12, TimeSpan.FromSeconds(10));
            using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
        await ProcessResources.WaitForNoRingThreadsAsync();
    }
}
