using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RingCore.Transport.Tests.Infrastructure;

namespace RingCore.Transport.Tests.Faults;

/// <summary>
/// Kernels without an optional feature, simulated by turning it off in the options, and options that cannot
/// work. (A kernel or sandbox without io_uring at all is covered by EndToEnd/FallbackTests.)
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class EnvironmentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const int DownloadSize = 4 * 1024 * 1024;

    [Theory]
    [InlineData(false, true)]  // a kernel before 6.0: no SINGLE_ISSUER, no DEFER_TASKRUN
    [InlineData(true, false)]  // a kernel before 5.18: no registered ring fd
    [InlineData(false, false)] // both
    public async Task WithoutAnOptionalKernelFeatureTheServerStillServesAndSaysWhatItGot(bool useSingleIssuer, bool registerRingFd)
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        await using (var server = await RingServer.StartAsync(async context =>
            {
                switch (context.Request.Path.Value)
                {
                    case "/echo":
                        context.Response.ContentType = "application/octet-stream";
                        await context.Request.Body.CopyToAsync(context.Response.Body);
                        break;
                    case "/download":
                        context.Response.ContentLength = DownloadSize;
                        byte[] chunk = new byte[64 * 1024];
                        for (int offset = 0; offset < DownloadSize; offset += chunk.Length)
                        {
                            FillPattern(chunk, offset);
                            await context.Response.Body.WriteAsync(chunk);
                        }
                        break;
                    default:
                        await context.Response.WriteAsync("hello " + context.Request.Path);
                        break;
                }
            },
            configureTransport: options =>
            {
                options.UseSingleIssuer = useSingleIssuer;
                options.RegisterRingFd = registerRingFd;
            }))
        {
            // The startup line says what the rings got.
            var line = Assert.Single(server.Logs.Entries, e => e.Category == "RingCore.Transport" && e.EventId.Id == 1);
            Assert.Equal(LogLevel.Information, line.Level);
            if (useSingleIssuer)
            {
                Assert.Contains("SINGLE_ISSUER|DEFER_TASKRUN", line.Message);
            }
            else
            {
                Assert.DoesNotContain("SINGLE_ISSUER", line.Message);
                Assert.DoesNotContain("DEFER_TASKRUN", line.Message);
                Assert.Contains("COOP_TASKRUN", line.Message); // the older (5.19) rung of the setup ladder
            }
            // A ring fd is registered for its creating thread, the only one that ever enters the ring.
            Assert.Contains($"registered ring fd {(registerRingFd ? "yes" : "no")}", line.Message);

            // And the rings really are set up that way (fixed at setup, so readable from here).
            Assert.All(server.Factory.Group.Threads, t =>
            {
                Assert.Equal(useSingleIssuer, t.Ring.HasSingleIssuer);
                Assert.Equal(useSingleIssuer, t.Ring.HasDeferTaskrun);
                Assert.Equal(registerRingFd, t.Ring.RingFdRegistered);
            });

            using (var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Timeout })
            {
                Assert.Equal("hello /get", await client.GetStringAsync("/get"));

                byte[] upload = new byte[300_000];
                FillPattern(upload, 7);
                using (var response = await client.PostAsync("/echo", new ByteArrayContent(upload)))
                {
                    response.EnsureSuccessStatusCode();
                    Assert.Equal(upload, await response.Content.ReadAsByteArrayAsync());
                }

                using (var response = await client.GetAsync("/download", HttpCompletionOption.ResponseHeadersRead))
                {
                    response.EnsureSuccessStatusCode();
                    await using Stream body = await response.Content.ReadAsStreamAsync();
                    byte[] buffer = new byte[81_920];
                    byte[] expected = new byte[buffer.Length];
                    long total = 0;
                    int read;
                    while ((read = await body.ReadAsync(buffer).AsTask().WaitAsync(Timeout)) > 0)
                    {
                        FillPattern(expected.AsSpan(0, read), total);
                        Assert.True(buffer.AsSpan(0, read).SequenceEqual(expected.AsSpan(0, read)), $"download corrupted between byte {total} and {total + read}");
                        total += read;
                    }
                    Assert.Equal(DownloadSize, total);
                }

                Assert.Equal("hello /again", await client.GetStringAsync("/again")); // same connection, still good
            }
            await server.WaitForNoConnectionsAsync();
        }

        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    [Theory]
    [InlineData(nameof(RingCoreTransportOptions.RingThreadCount), 0, RingCoreUnavailableBehavior.Throw)]
    [InlineData(nameof(RingCoreTransportOptions.SubmissionQueueSize), 1000, RingCoreUnavailableBehavior.Throw)]
    [InlineData(nameof(RingCoreTransportOptions.BufferSize), 100, RingCoreUnavailableBehavior.Throw)]
    [InlineData(nameof(RingCoreTransportOptions.CompletionBatchWait), 11_000, RingCoreUnavailableBehavior.Throw)]
    // A bad option is a configuration error, not an unavailable io_uring: it must not be hidden by the fallback.
    [InlineData(nameof(RingCoreTransportOptions.RingThreadCount), 0, RingCoreUnavailableBehavior.FallBackToSockets)]
    public async Task ABadOptionFailsStartupWithAnExceptionNamingIt(string option, int value, RingCoreUnavailableBehavior whenUnavailable)
    {
        int fdsBefore = ProcessResources.TransportFdCount();
        bool served = false;

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => RingServer.StartAsync(
            context =>
            {
                served = true;
                return Task.CompletedTask;
            },
            configureTransport: options =>
            {
                options.WhenUnavailable = whenUnavailable;
                switch (option)
                {
                    case nameof(RingCoreTransportOptions.RingThreadCount): options.RingThreadCount = value; break;
                    case nameof(RingCoreTransportOptions.SubmissionQueueSize): options.SubmissionQueueSize = value; break;
                    case nameof(RingCoreTransportOptions.BufferSize): options.BufferSize = value; break;
                    case nameof(RingCoreTransportOptions.CompletionBatchWait): options.CompletionBatchWait = TimeSpan.FromMicroseconds(value); break;
                    default: throw new ArgumentException($"unknown option {option}", nameof(option));
                }
            })).WaitAsync(Timeout);

        Assert.Equal(option, error.ParamName);
        object expected = option == nameof(RingCoreTransportOptions.CompletionBatchWait) ? TimeSpan.FromMicroseconds(value) : value;
        Assert.Equal(expected, error.ActualValue);
        Assert.Contains($"RingCoreTransportOptions.{option} ", error.Message);
        Assert.False(served);
        await ProcessResources.WaitForNoRingThreadsAsync();
        Assert.Equal(fdsBefore, ProcessResources.TransportFdCount());
    }

    /// <summary>Byte i of the stream is (i mod 251): a pattern that a lost, repeated or reordered chunk breaks.</summary>
    private static void FillPattern(Span<byte> span, long streamOffset)
    {
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = (byte)((streamOffset + i) % 251);
        }
    }
}
