namespace RingCore.BenchmarkRunner.Model;

public enum LoadClient
{
    Wrk,
    Bombardier,

    /// <summary>The runner's own sockets: open many keep-alive connections and hold them.</summary>
    IdleConnections,

    /// <summary>h2load (nghttp2-client): HTTP/2 over cleartext (h2c, prior knowledge), many streams per connection.</summary>
    H2load,

    /// <summary>
    /// The runner's own keep-alive clients (Execution/MixedBlockingClient.cs): a fixed-seed mix of uploads, downloads,
    /// echoes, pipelined GETs and requests that block their server thread, every answer checked byte for byte.
    /// </summary>
    MixedBlocking,
}

/// <summary>
/// A second wrk that runs beside the scenario's own for the same time: connections whose requests hold a server
/// thread, next to which the headline load is measured. Its requests are not in the headline number.
/// </summary>
public sealed record NeighbourLoad(string PathAndQuery, int Connections);

/// <summary>What a scenario's headline number is: requests per second, or payload bytes per second (GB/s).</summary>
public enum Throughput
{
    Requests,
    Bytes,
}

/// <param name="Name">The name --scenarios takes.</param>
/// <param name="Title">How the report names it.</param>
/// <param name="PathAndQuery">The request target.</param>
/// <param name="PipelineDepth">Requests wrk writes back to back per connection (1 = no pipelining).</param>
/// <param name="UploadBytes">Size of a POST body (0 = GET).</param>
/// <param name="PayloadBytes">Bytes of payload one request moves, for the GB/s of byte scenarios.</param>
/// <param name="CloseEvery">Every this many requests the client asks for `Connection: close` (0 = keep-alive throughout).</param>
/// <param name="Streams">Concurrent HTTP/2 streams per connection (h2load -m).</param>
/// <param name="Tls">HTTPS: the server gets a self-signed certificate the runner makes for the session.</param>
/// <param name="Proxied">The load goes through samples/RingCore.ProxySample (YARP), whose listener and outbound
/// connections both run on the transport under test, to the sample app on Sockets as the backend.</param>
/// <param name="Neighbours">A load that runs at the same time as the measured one (blocking-neighbours).</param>
/// <param name="Blocking">Handlers block their thread (Thread.Sleep, synchronous body reads): the report's blocking table.</param>
public sealed record Scenario(
    string Name,
    string Title,
    LoadClient Client,
    string PathAndQuery,
    int Connections,
    Throughput Throughput = Throughput.Requests,
    int PipelineDepth = 1,
    long UploadBytes = 0,
    long PayloadBytes = 0,
    int CloseEvery = 0,
    int Streams = 1,
    bool Tls = false,
    bool Proxied = false,
    NeighbourLoad? Neighbours = null,
    bool Blocking = false)
{
    public bool IsUpload => UploadBytes > 0;

    public bool IsHttp2 => Client == LoadClient.H2load;

    /// <summary>Arguments the server needs for this scenario beyond --urls and --transport (Kestrel configuration).</summary>
    public IReadOnlyList<string> ServerArguments(string? certificatePath, string? certificatePassword) =>
        IsHttp2 ? ["--Kestrel:EndpointDefaults:Protocols=Http2"]
        : Tls ? [$"--Kestrel:Certificates:Default:Path={certificatePath}", $"--Kestrel:Certificates:Default:Password={certificatePassword}"]
        : [];
}

public static class Scenarios
{
    public const long OneMiB = 1024 * 1024;

    public static readonly Scenario Plaintext8 = new("plaintext8", "plaintext, 8 connections", LoadClient.Wrk, "/plaintext", 8);
    public static readonly Scenario Plaintext64 = new("plaintext64", "plaintext, 64 connections", LoadClient.Wrk, "/plaintext", 64);
    public static readonly Scenario Plaintext1024 = new("plaintext1024", "plaintext, 1,024 connections", LoadClient.Wrk, "/plaintext", 1024);
    public static readonly Scenario Pipelined = new("pipelined", "plaintext, 64 connections, pipelined 16 deep", LoadClient.Wrk, "/plaintext", 64, PipelineDepth: 16);
    public static readonly Scenario Json64 = new("json64", "json, 64 connections", LoadClient.Wrk, "/json", 64);
    public static readonly Scenario Proxy64 = new("proxy64", "YARP proxy (RingCore.ProxySample) to a Sockets backend, plaintext, 64 connections", LoadClient.Wrk, "/plaintext", 64, Proxied: true);
    public static readonly Scenario Download = new("download", "1 MiB downloads, 16 connections", LoadClient.Wrk, "/download?size=1048576", 16, Throughput.Bytes, PayloadBytes: OneMiB);
    public static readonly Scenario Upload = new("upload", "1 MiB uploads, 16 connections", LoadClient.Wrk, "/upload", 16, Throughput.Bytes, UploadBytes: OneMiB, PayloadBytes: OneMiB);
    public static readonly Scenario Churn1 = new("churn1", "connection churn: a new connection per request, 64 connections", LoadClient.Wrk, "/plaintext", 64, CloseEvery: 1);
    public static readonly Scenario Churn10 = new("churn10", "connection churn: a new connection every 10 requests, 64 connections", LoadClient.Wrk, "/plaintext", 64, CloseEvery: 10);
    public static readonly Scenario Https64 = new("https64", "HTTPS plaintext, 64 connections", LoadClient.Wrk, "/plaintext", 64, Tls: true);
    public static readonly Scenario H2c32x16 = new("h2c", "HTTP/2 h2c plaintext, 32 connections × 16 streams", LoadClient.H2load, "/plaintext", 32, Streams: 16);
    public static readonly Scenario H2c4x16 = new("h2c4x16", "HTTP/2 h2c plaintext, 4 connections × 16 streams", LoadClient.H2load, "/plaintext", 4, Streams: 16);
    public static readonly Scenario H2c1x64 = new("h2c1x64", "HTTP/2 h2c plaintext, 1 connection × 64 streams", LoadClient.H2load, "/plaintext", 1, Streams: 64);
    public static readonly Scenario Idle10k = new("idle10k", "10,000 idle keep-alive connections", LoadClient.IdleConnections, "/plaintext", 10_000);

    // Blocking workloads: what handlers that hold their thread cost, and whether they hold up everyone else.
    public static readonly Scenario Sleep1ms = new("sleep1ms", "every request blocks 1 ms (Thread.Sleep), 64 connections", LoadClient.Wrk, "/sleep?ms=1", 64, Blocking: true);
    public static readonly Scenario BlockingNeighbours = new("blocking-neighbours", "plaintext, 64 connections, beside 4 connections blocking 5 ms per request",
        LoadClient.Wrk, "/plaintext", 64, Neighbours: new NeighbourLoad("/sleep?ms=5", 4), Blocking: true);
    public static readonly Scenario MixedBlocking = new("mixed-blocking", "mixed keep-alive traffic, 64 clients, 1 request in 4 blocking (sleep 1-40 ms or a synchronous body read)",
        LoadClient.MixedBlocking, "/", 64, Blocking: true);

    public static readonly Scenario Plaintext64Bombardier = new("plaintext64-bombardier", "plaintext, 64 connections (bombardier)", LoadClient.Bombardier, "/plaintext", 64);

    public static IReadOnlyList<Scenario> All { get; } =
        [Plaintext8, Plaintext64, Plaintext1024, Pipelined, Json64, Proxy64, Churn1, Churn10, Https64, H2c32x16, H2c4x16, H2c1x64, Download, Upload, Idle10k, Plaintext64Bombardier,
         Sleep1ms, BlockingNeighbours, MixedBlocking];

    /// <summary>The connection counts of the completion-batching grid (--batch-wait-grid).</summary>
    public static IReadOnlyList<Scenario> BatchWaitGrid { get; } = [Plaintext8, Plaintext64, Plaintext1024];

    public static Scenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
