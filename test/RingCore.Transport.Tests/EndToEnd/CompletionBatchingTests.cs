using RingCore.Transport.Tests.Faults;
using RingCore.Transport.Tests.Infrastructure;
using RingCore.Transport.Threading;
using Xunit.Abstractions;

namespace RingCore.Transport.Tests.EndToEnd;

/// <summary>
/// Completion batching on a real ring and a real Kestrel: a batch never waits for more requests than the ring has
/// keep-alive connections (each held request is a client waiting), so a ring with fewer connections than the
/// smallest batch never waits for one, however many of them send at the same instant; a ring with many connections
/// batches. Only DEFER_TASKRUN rings batch (every scheduling on
/// Linux 6.1 and later): a ring without it (an older kernel) is woken by every completion anyway, so it never waits
/// for a batch.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class CompletionBatchingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FewerConnectionsThanTheSmallestBatchAreNeverHeldForOne()
    {
        const int connections = (int)CompletionBatcher.MinArrivals - 1, rounds = 300;
        await using var server = await StartAsync(RingCoreApplicationScheduling.ThreadPool);
        using (var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, connections))
        {
            for (int round = 0; round < rounds; round++) // every connection's request at the same instant, each round
            {
                await burst.SendAllAsync(RawClient.Get("/"));
                await burst.ExpectAllAsync(1, BurstTests.Plaintext);
            }
        }
        long batched = BatchedWaits(server);
        output.WriteLine($"{connections} connections × {rounds} rounds: {batched} batched waits");
        Assert.Equal(0, batched);
        await server.WaitForNoConnectionsAsync();
    }

    [Theory]
    [InlineData(RingCoreApplicationScheduling.ThreadPool)]
    [InlineData(RingCoreApplicationScheduling.UnsafeInline)]
    public async Task ManyConnectionsSendingTogetherAreBatched(RingCoreApplicationScheduling scheduling)
    {
        await using var server = await StartAsync(scheduling);
        Assert.True(server.Factory.Group.Threads[0].Ring.HasDeferTaskrun, "this test needs a ring with DEFER_TASKRUN (Linux 6.1)");
        long batched = await SendManyRequestsTogetherAsync(server);
        Assert.True(batched > 0, "a ring with 512 connections sending at once never waited for a batch");
    }

    [Fact]
    public async Task RingsWithoutDeferTaskrunNeverWaitForABatch()
    {
        await using var server = await StartAsync(RingCoreApplicationScheduling.ThreadPool, useSingleIssuer: false); // as before Linux 6.1
        Assert.False(server.Factory.Group.Threads[0].Ring.HasDeferTaskrun);
        long batched = await SendManyRequestsTogetherAsync(server);
        Assert.Equal(0, batched);
    }

    /// <summary>512 keep-alive connections send a request at the same instant, 10 times; the batched waits it caused.</summary>
    private async Task<long> SendManyRequestsTogetherAsync(RingServer server)
    {
        using (var burst = await Burst.ConnectAsync(server.LoopbackEndPoint, 512))
        {
            for (int round = 0; round < 10; round++)
            {
                await burst.SendAllAsync(RawClient.Get("/"));
                await burst.ExpectAllAsync(1, BurstTests.Plaintext);
            }
        }
        long batched = BatchedWaits(server);
        output.WriteLine($"512 connections × 10 rounds: {batched} batched waits");
        await server.WaitForNoConnectionsAsync();
        return batched;
    }

    /// <summary>One ring, so that every connection counts towards the same ring's limit; batching at its default wait.</summary>
    private static Task<RingServer> StartAsync(RingCoreApplicationScheduling scheduling, bool useSingleIssuer = true) =>
        BurstTests.StartPlaintextServerAsync(options =>
        {
            options.RingThreadCount = 1;
            options.ApplicationScheduling = scheduling;
            options.UseSingleIssuer = useSingleIssuer;
        });

    private static long BatchedWaits(RingServer server) =>
        server.Factory.Group.Threads.Sum(ring => Volatile.Read(ref ring.Counters.BatchedWaits));
}
