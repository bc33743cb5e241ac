// A TechEmpower-style app for trying RingCore and comparing it with Kestrel's Sockets transport.
//   dotnet run -c Release --project samples/RingCore.SampleApp -- --urls http://127.0.0.1:5000 [--transport ringcore|ringcore-threadpool|ringcore-inline|sockets]
//   [--rings N] [--batch-wait-us N]: RingThreadCount and CompletionBatchWait, for the benchmark's grids (defaults otherwise)
using System.Security.Cryptography;
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
        builder.WebHost.UseRingCore(Tuning); // defaults: handlers run on the ring thread, which another takes over when one blocks (Inline)
        break;
    case "ringcore-threadpool":
        builder.WebHost.UseRingCore(o => { Tuning(o); o.ApplicationScheduling = RingCoreApplicationScheduling.ThreadPool; }); // handlers on the thread pool
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
byte[] downloadBlock = RandomNumberGenerator.GetBytes(64 * 1024);

app.MapGet("/plaintext", (HttpContext context) =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = helloWorld.Length;
    return context.Response.Body.WriteAsync(helloWorld).AsTask();
});

app.MapGet("/json", () => Results.Json(new Message("Hello, World!"), SampleJsonContext.Default.Message));

// GET /download?size=N: N bytes (default 1 MiB) of a repeating random block.
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

app.MapGet("/", () => $"RingCore sample app; transport: {transport}. Try /plaintext, /json, /download?size=1048576, POST /upload.");

app.Run();
return 0;

internal sealed record Message(string message);

[System.Text.Json.Serialization.JsonSerializable(typeof(Message))]
internal sealed partial class SampleJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
