namespace RingCore.BenchmarkRunner.Model;

public enum LoadClient
{
    Wrk,
    Bombardier,

    /// <summary>The runner's own sockets: open many keep-alive connections and hold them.</summary>
    IdleConnections,
}

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
public sealed record Scenario(
    string Name,
    string Title,
    LoadClient Client,
    string PathAndQuery,
    int Connections,
    Throughput Throughput = Throughput.Requests,
    int PipelineDepth = 1,
    long UploadBytes = 0,
    long PayloadBytes = 0)
{
    public bool IsUpload => UploadBytes > 0;
}

public static class Scenarios
{
    public const long OneMiB = 1024 * 1024;

    public static readonly Scenario Plaintext64 = new("plaintext64", "plaintext, 64 connections", LoadClient.Wrk, "/plaintext", 64);
    public static readonly Scenario Plaintext1024 = new("plaintext1024", "plaintext, 1,024 connections", LoadClient.Wrk, "/plaintext", 1024);
    public static readonly Scenario Pipelined = new("pipelined", "plaintext, 64 connections, pipelined 16 deep", LoadClient.Wrk, "/plaintext", 64, PipelineDepth: 16);
    public static readonly Scenario Json64 = new("json64", "json, 64 connections", LoadClient.Wrk, "/json", 64);
    public static readonly Scenario Download = new("download", "1 MiB downloads, 16 connections", LoadClient.Wrk, "/download?size=1048576", 16, Throughput.Bytes, PayloadBytes: OneMiB);
    public static readonly Scenario Upload = new("upload", "1 MiB uploads, 16 connections", LoadClient.Wrk, "/upload", 16, Throughput.Bytes, UploadBytes: OneMiB, PayloadBytes: OneMiB);
    public static readonly Scenario Idle10k = new("idle10k", "10,000 idle keep-alive connections", LoadClient.IdleConnections, "/plaintext", 10_000);
    public static readonly Scenario Plaintext64Bombardier = new("plaintext64-bombardier", "plaintext, 64 connections (bombardier)", LoadClient.Bombardier, "/plaintext", 64);

    public static IReadOnlyList<Scenario> All { get; } =
        [Plaintext64, Plaintext1024, Pipelined, Json64, Download, Upload, Idle10k, Plaintext64Bombardier];

    public static Scenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
