using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>What one step of the mixed workload sends. Pipelined sends several GET /plaintext back to back.</summary>
internal enum MixedKind
{
    Plaintext,
    Pipelined,
    Upload,
    Download,
    Echo,
    EchoSync,
    Sleep,
}

/// <summary>One step: the request bytes to write, how many answers they get and what each answer's body must be.</summary>
internal readonly record struct MixedRequest(MixedKind Kind, byte[] Bytes, int Answers, ReadOnlyMemory<byte> ExpectedBody);

/// <summary>
/// The mixed-blocking workload's requests: which kinds, how often, with which bodies, and what every answer must be.
/// Every client draws its steps from a <see cref="Random"/> seeded with <see cref="Seed"/> + its index, so every
/// round and every transport sees the same sequence of requests.
/// </summary>
internal sealed class MixedRequests
{
    public const int Seed = 20_251_208;
    public const int PipelineDepth = 4;
    public const int MaxSleepMs = 40;
    public const int MaxEchoBytes = 64 * 1024;
    public static readonly int[] BodySizes = [1024, 16 * 1024, 64 * 1024, 256 * 1024];

    /// <summary>The largest body a client has to hold: a download or an upload of the largest size.</summary>
    public static int MaxBodyBytes => BodySizes.Max();

    // Steps drawn per 85: sleep 16 and echo-sync 9 block their server thread (25 requests), the others 60 steps for
    // 75 requests (5 pipelined steps answer 4 each): one request in four blocks.
    private static readonly (MixedKind Kind, int Weight)[] Weights =
    [
        (MixedKind.Sleep, 16), (MixedKind.EchoSync, 9),
        (MixedKind.Echo, 15), (MixedKind.Upload, 15), (MixedKind.Download, 15), (MixedKind.Plaintext, 10), (MixedKind.Pipelined, 5),
    ];

    private static readonly byte[] HelloWorld = "Hello, World!"u8.ToArray();

    private readonly string _host;
    private readonly byte[] _payload;
    private readonly byte[] _downloadPattern;
    private readonly byte[][] _uploadAnswers;
    private readonly byte[] _plaintext;
    private readonly byte[] _pipelined;

    // The requests that do not vary are made once, so the client spends its CPU on sending, not on allocating
    // (a 256 KiB upload would be a large-object allocation per request). Only echoes are made per step.
    private readonly byte[][] _sleeps;
    private readonly byte[][] _downloads;
    private readonly byte[][] _uploads;

    /// <param name="host">The Host header: 127.0.0.1:PORT.</param>
    public MixedRequests(string host)
    {
        _host = host;
        // Upload and echo bodies: the same bytes in every run (a fixed seed), not a repeating pattern, so a byte that
        // lands at the wrong offset is caught.
        _payload = new byte[MaxBodyBytes];
        new Random(Seed).NextBytes(_payload);
        _downloadPattern = new byte[MaxBodyBytes];
        for (int k = 0; k < _downloadPattern.Length; k++)
        {
            _downloadPattern[k] = DownloadByte(k);
        }
        // POST /upload answers "LENGTH SHA256HEX".
        _uploadAnswers = BodySizes.Select(n => Encoding.ASCII.GetBytes($"{n} {Convert.ToHexString(SHA256.HashData(_payload.AsSpan(0, n)))}")).ToArray();
        _plaintext = Get("/plaintext");
        _pipelined = [.. Enumerable.Repeat(_plaintext, PipelineDepth).SelectMany(r => r)];
        _sleeps = Enumerable.Range(0, MaxSleepMs + 1).Select(ms => Get($"/sleep?ms={ms}")).ToArray();
        _downloads = BodySizes.Select(n => Get($"/download?size={n}")).ToArray();
        _uploads = BodySizes.Select(n => Post("/upload", _payload.AsSpan(0, n))).ToArray();
    }

    /// <summary>Byte <paramref name="offset"/> of every GET /download body (samples/RingCore.SampleApp/Program.cs).</summary>
    public static byte DownloadByte(long offset) => (byte)(offset % 65536 % 251);

    /// <summary>The kind a draw of 0..84 picks, by the weights above.</summary>
    public static MixedKind Pick(int draw)
    {
        foreach (var (kind, weight) in Weights)
        {
            if (draw < weight)
            {
                return kind;
            }
            draw -= weight;
        }
        throw new ArgumentOutOfRangeException(nameof(draw));
    }

    public static int TotalWeight => Weights.Sum(w => w.Weight);

    /// <summary>The next step of a client whose sequence <paramref name="random"/> is.</summary>
    public MixedRequest Next(Random random)
    {
        var kind = Pick(random.Next(TotalWeight));
        switch (kind)
        {
            case MixedKind.Plaintext:
                return new(kind, _plaintext, 1, HelloWorld);
            case MixedKind.Pipelined:
                return new(kind, _pipelined, PipelineDepth, HelloWorld);
            case MixedKind.Sleep:
                return new(kind, _sleeps[random.Next(1, MaxSleepMs + 1)], 1, HelloWorld);
            case MixedKind.Download:
                {
                    int i = random.Next(BodySizes.Length);
                    return new(kind, _downloads[i], 1, _downloadPattern.AsMemory(0, BodySizes[i]));
                }
            case MixedKind.Upload:
                {
                    int i = random.Next(BodySizes.Length);
                    return new(kind, _uploads[i], 1, _uploadAnswers[i]);
                }
            default: // Echo, EchoSync: a random slice of the payload comes back byte for byte.
                {
                    int length = random.Next(1, MaxEchoBytes + 1);
                    int offset = random.Next(_payload.Length - length + 1);
                    var body = _payload.AsMemory(offset, length);
                    return new(kind, Post(kind == MixedKind.Echo ? "/echo" : "/echo-sync", body.Span), 1, body);
                }
        }
    }

    /// <summary>Bytes of <paramref name="actual"/> that differ from <paramref name="expected"/>; a length difference counts as that many wrong bytes.</summary>
    public static long WrongBytes(ReadOnlySpan<byte> actual, ReadOnlySpan<byte> expected)
    {
        int common = Math.Min(actual.Length, expected.Length);
        long wrong = Math.Abs(actual.Length - expected.Length);
        if (actual[..common].SequenceEqual(expected[..common]))
        {
            return wrong;
        }
        for (int i = 0; i < common; i++)
        {
            if (actual[i] != expected[i])
            {
                wrong++;
            }
        }
        return wrong;
    }

    private byte[] Get(string pathAndQuery) =>
        Encoding.ASCII.GetBytes($"GET {pathAndQuery} HTTP/1.1\r\nHost: {_host}\r\n\r\n");

    private byte[] Post(string path, ReadOnlySpan<byte> body)
    {
        byte[] head = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"POST {path} HTTP/1.1\r\nHost: {_host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {body.Length}\r\n\r\n"));
        byte[] request = new byte[head.Length + body.Length];
        head.CopyTo(request, 0);
        body.CopyTo(request.AsSpan(head.Length));
        return request;
    }
}
