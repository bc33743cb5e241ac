using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>
/// The mixed-blocking load: <c>connections</c> clients, one keep-alive connection each, each stepping through its
/// fixed-seed sequence of <see cref="MixedRequests"/> until the time is up, checking every answer. Completed requests
/// are answers that came back 200 with exactly the right body; everything else is a failed request, and bytes that
/// differ are counted on their own (both must stay 0).
/// </summary>
internal static class MixedBlockingClient
{
    // As wrk --timeout 10s: a request without its answer after this long has failed.
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>What the report prints as this client's command.</summary>
    public static string Describe(int connections, int seconds) =>
        $"the runner's own client: {connections} keep-alive connections (raw sockets, one per client) for {seconds} s, each drawing steps from "
        + $"Random(seed {MixedRequests.Seed} + client index) out of {MixedRequests.TotalWeight}: GET /sleep?ms=1..{MixedRequests.MaxSleepMs} 16, "
        + $"POST /echo-sync 9, POST /echo 15 (1 B..64 KiB), POST /upload 15, GET /download?size= 15 ({string.Join("/", MixedRequests.BodySizes.Select(b => $"{b / 1024} KiB"))}), "
        + $"GET /plaintext 10, {MixedRequests.PipelineDepth} pipelined GET /plaintext 5; every answer checked (status, length, bytes; /upload's length and SHA-256)";

    public static async Task<ClientResult> RunAsync(Uri baseUrl, int connections, TimeSpan duration, CancellationToken cancel)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(baseUrl.Host), baseUrl.Port);
        var requests = new MixedRequests($"{baseUrl.Host}:{baseUrl.Port}");
        var clock = Stopwatch.StartNew();
        var tallies = await Task.WhenAll(Enumerable.Range(0, connections)
            .Select(i => Task.Run(() => RunClientAsync(endpoint, requests, new Random(MixedRequests.Seed + i), clock, duration, cancel), CancellationToken.None)));
        double seconds = clock.Elapsed.TotalSeconds;
        cancel.ThrowIfCancellationRequested();

        var total = new Tally();
        foreach (var t in tallies)
        {
            total.Add(t);
        }
        var latencies = tallies.SelectMany(t => t.LatencyTicks).Order().ToArray();
        long completed = total.Completed.Sum();
        return new ClientResult(completed, completed / seconds, total.BytesRead / seconds,
            Percentile(latencies, 50), Percentile(latencies, 99), total.Failed, seconds)
        {
            WrongBytes = total.WrongBytes,
            Mix = string.Join(", ", Enum.GetValues<MixedKind>().Select(k => $"{Name(k)} {total.Completed[(int)k].ToString("N0", CultureInfo.InvariantCulture)}"))
                + (total.FirstError is null ? "" : $"; first failure: {total.FirstError}"),
        };
    }

    private static async Task<Tally> RunClientAsync(IPEndPoint endpoint, MixedRequests requests, Random random, Stopwatch clock, TimeSpan duration, CancellationToken cancel)
    {
        var tally = new Tally();
        byte[] body = new byte[MixedRequests.MaxBodyBytes];
        RawHttpConnection? connection = null;
        try
        {
            while (clock.Elapsed < duration && !cancel.IsCancellationRequested)
            {
                var request = requests.Next(random);
                int answered = 0;
                long started = Stopwatch.GetTimestamp();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                timeout.CancelAfter(RequestTimeout);
                try
                {
                    connection ??= await RawHttpConnection.ConnectAsync(endpoint, timeout.Token);
                    long readBefore = connection.BytesRead;
                    await connection.SendAsync(request.Bytes, timeout.Token);
                    bool open = true;
                    while (answered < request.Answers && open)
                    {
                        var (head, length) = await connection.ReadResponseAsync(body, timeout.Token);
                        answered++;
                        open = head.KeepAlive;
                        long wrong = head.Status == 200 ? MixedRequests.WrongBytes(body.AsSpan(0, length), request.ExpectedBody.Span) : 0;
                        if (head.Status != 200 || wrong > 0)
                        {
                            tally.Failed++;
                            tally.WrongBytes += wrong;
                            tally.FirstError ??= head.Status != 200 ? $"{Name(request.Kind)}: status {head.Status}" : $"{Name(request.Kind)}: {wrong} wrong bytes";
                        }
                        else
                        {
                            tally.Completed[(int)request.Kind]++;
                        }
                    }
                    tally.BytesRead += connection.BytesRead - readBefore;
                    if (!open)
                    {
                        // The server closed a keep-alive connection: answers still owed are failed, the next step reconnects.
                        tally.Failed += request.Answers - answered;
                        tally.FirstError ??= $"{Name(request.Kind)}: the server answered Connection: close";
                        connection.Dispose();
                        connection = null;
                    }
                    else if (request.Kind != MixedKind.Pipelined)
                    {
                        // wrk times a pipelined batch as one request; leave batches out rather than skew the percentiles.
                        tally.LatencyTicks.Add(Stopwatch.GetTimestamp() - started);
                    }
                }
                catch (Exception e) when (!cancel.IsCancellationRequested
                    && e is SocketException or IOException or InvalidDataException or OperationCanceledException)
                {
                    tally.Failed += request.Answers - answered;
                    tally.FirstError ??= $"{Name(request.Kind)}: " + (e is OperationCanceledException ? $"no answer within {RequestTimeout.TotalSeconds:F0} s" : e.Message);
                    connection?.Dispose();
                    connection = null;
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
        return tally;
    }

    /// <summary>Nearest rank, in µs; null without samples.</summary>
    private static double? Percentile(long[] sortedTicks, int percentile)
    {
        if (sortedTicks.Length == 0)
        {
            return null;
        }
        int rank = (int)Math.Ceiling(percentile / 100.0 * sortedTicks.Length);
        return sortedTicks[Math.Clamp(rank - 1, 0, sortedTicks.Length - 1)] * 1_000_000.0 / Stopwatch.Frequency;
    }

    private static string Name(MixedKind kind) => kind switch
    {
        MixedKind.EchoSync => "echo-sync",
        MixedKind.Pipelined => "pipelined",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>One client's counts (merged into one for the run).</summary>
    private sealed class Tally
    {
        public long[] Completed { get; } = new long[Enum.GetValues<MixedKind>().Length];
        public long Failed { get; set; }
        public long WrongBytes { get; set; }
        public long BytesRead { get; set; }
        public List<long> LatencyTicks { get; } = [];
        public string? FirstError { get; set; }

        public void Add(Tally other)
        {
            for (int i = 0; i < Completed.Length; i++)
            {
                Completed[i] += other.Completed[i];
            }
            Failed += other.Failed;
            WrongBytes += other.WrongBytes;
            BytesRead += other.BytesRead;
            FirstError ??= other.FirstError;
        }
    }
}
