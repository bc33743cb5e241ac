using System.Net.Http;
using Microsoft.AspNetCore.Http;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.EndToEnd;

[Collection(ServerCollection.Name)]
public sealed class SmokeTests
{
    [Fact]
    public async Task GetAndPostOverRingCoreLeaveNothingBehind()
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        int ringFdsBefore = ProcessResources.IoUringFdCount();

        await using (var server = await RingServer.StartAsync(async context =>
        {
            if (HttpMethods.IsPost(context.Request.Method))
            {
                using var reader = new StreamReader(context.Request.Body);
                await context.Response.WriteAsync("echo:" + await reader.ReadToEndAsync());
            }
            else
            {
                await context.Response.WriteAsync("hello " + context.Request.Path);
            }
        }))
        {
            Assert.Equal(2, ProcessResources.IoUringFdCount() - ringFdsBefore);
            Assert.Equal(2, ProcessResources.RingThreadCount());
            using (var client = new HttpClient { BaseAddress = server.BaseAddress })
            {
                Assert.Equal("hello /a", await client.GetStringAsync("/a"));
                var response = await client.PostAsync("/p", new StringContent("body"));
                Assert.Equal("echo:body", await response.Content.ReadAsStringAsync());
            }
            await server.WaitForNoConnectionsAsync();
        }

        // Joined, but the OS may list an exiting thread in /proc for a moment longer.
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(ringFdsBefore, ProcessResources.IoUringFdCount());
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }
}
