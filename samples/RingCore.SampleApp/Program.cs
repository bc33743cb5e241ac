// A TechEmpower-style app for trying RingCore and comparing it with Kestrel's Sockets transport.
//   dotnet run -c Release --project samples/RingCore.SampleApp -- --urls http://127.0.0.1:5000 [--transport ringcore|ringcore-threadpool|ringcore-inline|sockets]
//   [--rings N] [--batch-wait-us N]: RingThreadCount and CompletionBatchWait, for the benchmark's grids (defaults otherwise)
// Blocking endpoints for the benchmark's blocking workloads: GET /sleep?ms=N (Thread.Sleep, standing for a synchronous
// database call), POST /echo (async) and POST /echo-sync (reads and writes the body synchronously).
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.Features;
using RingCore.Transport;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("RingCore.Transport", LogLevel.Information);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);

string transport = builder.Configuration["transport"] ?? "ringcore";
void Tuning(RingCoreTransportOptions o)
{
    if (builder.Configuration["rings"] is { } rings)
    {
        o.RingThreadCount = int.Parse(rings);
    }
    if (builder.Configuration["batch-wait-us"] is { } wait)
    {
        o.CompletionBatchWait = TimeSpan.FromMicroseconds(int.Parse(wait));
    }
}
switch (transport)
{
    case "ringcore":
        // The transport's defaults: handlers run on the .NET thread pool (ApplicationScheduling = ThreadPool), as with
        // Kestrel's Sockets transport. (A build of a tree from before that change runs its own default here.)
        builder.WebHost.UseRingCore(Tuning);
        break;
    case "ringcore-threadpool":
        // ThreadPool set explicitly: the same as the default now; kept so older command lines and the batching grid,
        // which names it, go on working on any build.
        builder.WebHost.UseRingCore(o => { Tuning(o); o.ApplicationScheduling = RingCoreApplicationScheduling.ThreadPool; });
        break;
    case "ringcore-inline":
        builder.WebHost.UseRingCore(o => { Tuning(o); o.ApplicationScheduling = RingCoreApplicationScheduling.UnsafeInline; }); // opt-in, for comparison
        break;
    case "sockets":
        break; // Kestrel's default transport
    default:
        Console.Error.WriteLine($"Unknown --transport '{transport}': use ringcore, ringcore-threadpool, ringcore-inline or sockets.");
        return 2;
}
builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = null);
builder.WebHost.UseKestrelHttpsConfiguration(); // https:// URLs with a certificate from configuration (the benchmark's HTTPS scenario)

var app = builder.Build();

byte[] helloWorld = "Hello, World!"u8.ToArray();
// A fixed pattern, not random bytes, so that a client can check every byte it downloads: byte k of a /download
// body is (k mod 65,536) mod 251 (251 is prime, so the pattern does not line up with the 64 KiB block).
// samples/RingCore.BenchmarkRunner (Execution/MixedRequests.cs) checks against the same formula.
byte[] downloadBlock = new byte[64 * 1024];
for (int i = 0; i < downloadBlock.Length; i++)
{
    downloadBlock[i] = (byte)(i % 251);
}

app.MapGet("/plaintext", (HttpContext context) =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = helloWorld.Length;
    return context.Response.Body.WriteAsync(helloWorld).AsTask();
});

app.MapGet("/json", () => Results.Json(new Message("Hello, World!"), SampleJsonContext.Default.Message));

// GET /download?size=N: N bytes (default 1 MiB) of the repeating block above.
app.MapGet("/download", async (HttpContext context, long? size) =>
{
    long remaining = size ?? 1024 * 1024;
    context.Response.ContentType = "application/octet-stream";
    context.Response.ContentLength = remaining;
    while (remaining > 0)
    {
        int chunk = (int)Math.Min(remaining, downloadBlock.Length);
        await context.Response.Body.WriteAsync(downloadBlock.AsMemory(0, chunk));
        remaining -= chunk;
    }
});

// POST /upload: reads the whole body and answers with its length and SHA-256.
app.MapPost("/upload", async (HttpContext context) =>
{
    using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    byte[] buffer = new byte[64 * 1024];
    long total = 0;
    int read;
    while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
    {
        sha.AppendData(buffer, 0, read);
        total += read;
    }
    return Results.Text($"{total} {Convert.ToHexString(sha.GetHashAndReset())}");
});

// GET /sleep?ms=N: holds its thread for N ms (default 1, at most 10 s) with Thread.Sleep, as a synchronous database
// query would, then answers like /plaintext. On the thread pool this costs a pool thread per sleeping request.
app.MapGet("/sleep", (HttpContext context, int? ms) =>
{
    Thread.Sleep(Math.Clamp(ms ?? 1, 0, 10_000));
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = helloWorld.Length;
    return context.Response.Body.WriteAsync(helloWorld).AsTask();
});

// POST /echo: answers with the request body, copied as it arrives.
app.MapPost("/echo", async (HttpContext context) =>
{
    context.Response.ContentType = "application/octet-stream";
    context.Response.ContentLength = context.Request.ContentLength;
    await context.Request.Body.CopyToAsync(context.Response.Body);
});

// POST /echo-sync: the same with synchronous reads and writes, as code written against a synchronous API does: the
// thread waits for every piece of the body. Kestrel forbids synchronous I/O by default (AllowSynchronousIO = false),
// so this request alone allows it; the server-wide setting stays off.
app.MapPost("/echo-sync", (HttpContext context) =>
{
    context.Features.Get<IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
    context.Response.ContentType = "application/octet-stream";
    context.Response.ContentLength = context.Request.ContentLength;
    byte[] buffer = new byte[16 * 1024];
    int read;
    while ((read = context.Request.Body.Read(buffer)) > 0)
    {
        context.Response.Body.Write(buffer, 0, read);
    }
});

// GET /_stats: the transport's counters, read the way an exporter scoped to this app would: through the meter its
// IMeterFactory made (Meter.Scope), summed over the per-ring measurements.
var meterFactory = app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
app.MapGet("/_stats", () =>
{
    if (!transport.StartsWith("ringcore", StringComparison.Ordinal))
    {
        return Results.Json(new Dictionary<string, object> { ["transport"] = transport });
    }
    var totals = new Dictionary<string, long>();
    using var listener = new System.Diagnostics.Metrics.MeterListener();
    listener.InstrumentPublished = (instrument, l) =>
    {
        if (instrument.Meter.Name == RingCoreMetrics.MeterName && instrument.Meter.Scope == meterFactory)
        {
            l.EnableMeasurementEvents(instrument);
        }
    };
    listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
    {
        string name = instrument.Name;
        foreach (var tag in tags)
        {
            if (tag.Key == "network.io.direction")
            {
                name += "." + tag.Value; // ringcore.network.io.receive / .transmit
            }
        }
        totals[name] = totals.GetValueOrDefault(name) + value;
    });
    listener.Start();
    listener.RecordObservableInstruments();
    var values = new Dictionary<string, object> { ["transport"] = transport };
    foreach (var (name, value) in totals)
    {
        values[name] = value;
    }
    // Short names used by samples/RingCore.BenchmarkRunner.
    values["syscalls"] = totals.GetValueOrDefault("ringcore.syscalls");
    values["ioUringEnters"] = totals.GetValueOrDefault("ringcore.io_uring.enters");
    values["wakeups"] = totals.GetValueOrDefault("ringcore.ring.wakeups");
    values["connectionsActive"] = totals.GetValueOrDefault("ringcore.active_connections");
    return Results.Json(values);
});

app.MapGet("/", () => $"RingCore sample app; transport: {transport}. Try /plaintext, /json, /download?size=1048576, /sleep?ms=5, POST /upload, /echo, /echo-sync.");

app.Run();
return 0;

internal sealed record Message(string message);

[System.Text.Json.Serialization.JsonSerializable(typeof(Message))]
internal sealed partial class SampleJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
