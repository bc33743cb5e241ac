using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging.Console;
using RingCore.FallbackProbe;
using RingCore.Transport;

// Usage: RingCore.FallbackProbe --deny-io-uring <EPERM|ENOSYS|none> --when-unavailable <FallBackToSockets|Throw>
//                               [--deny-ipv6 <EAFNOSUPPORT|none>] [--urls <Kestrel URLs, default http://127.0.0.1:0>]
//                               [--transport <RingCore|Sockets>] [--self-request <http://IP:port/path>]
//                               [--nofile <soft RLIMIT_NOFILE, set before anything else>]
//                               [--fin-on-error <on|off>] [--transport-log-level <Information|Debug>]
//                               [--outbound-request <self|http://IP:port/path>] [--outbound-connect-timeout-ms <N>]
//                               [--outbound-compare-sockets <on|off>]
// --deny-ipv6 EAFNOSUPPORT makes socket(AF_INET6, ...) fail as on a host booted with ipv6.disable=1. --transport
// Sockets serves with Kestrel's own Sockets transport (no UseRingCore), to compare. Kestrel's own category logs at
// Debug, so its address-binding fallbacks show. --fin-on-error on sets Kestrel's AppContext switch
// Microsoft.AspNetCore.Server.Kestrel.FinOnError before anything reads it (a switch is process-wide, so tests that
// need it run here rather than in the test process). --transport-log-level Debug logs RingCore.Transport's connection
// events (FIN, RST, pause...). GET /abort aborts its connection (HttpContext.Abort).
// Prints "LISTENING <url>" once serving (and, with --self-request, "SELF-REQUEST <status> <body>" or
// "SELF-REQUEST FAILED: <why>" after one GET of that URL from inside the probe; with --outbound-request,
// "OUTBOUND-REQUEST <status> <body>" or "OUTBOUND-REQUEST FAILED: <why>" after one GET through HttpClient over the
// host's RingCoreConnectionFactory; "self" is the probe's own first address; a URL with a host name is preceded by
// "OUTBOUND-RESOLVED <address>,<address>...", what the resolver returns for it; with --outbound-compare-sockets on,
// "OUTBOUND-REQUEST-SOCKETS ..." for the same GET over a plain SocketsHttpHandler; then "OUTBOUND-CONNECTIONS <N>",
// the factory's open connections; see OutboundRequest.cs), serves until its standard input is closed, then stops
// and exits 0.
// Commands on standard input, one a line, each answered with one line:
//   fill <N>   starts 16 idle thread-pool workers (no thread can be created once fds run out), then opens
//              /dev/null until exactly N fd numbers below the soft RLIMIT_NOFILE are left (use with --nofile)
//              -> "FILLED soft=<limit> open=<fds open before> fillers=<count> free=<N>" or "FILL FAILED: <why>"
// Exit codes: 2 bad arguments, 3 the seccomp filter could not be installed, 4 startup failed.

string? deny = null;
string? whenUnavailable = null;
string? nofile = null;
string denyIPv6 = "none";
string urls = "http://127.0.0.1:0";
string transport = "RingCore";
string? selfRequest = null;
string? outboundRequest = null;
string? outboundConnectTimeoutMs = null;
string outboundCompareSockets = "off";
int timeoutMs = 0;
string finOnError = "off";
string transportLogLevel = "Information";
for (int i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--deny-io-uring": deny = args[i + 1]; break;
        case "--when-unavailable": whenUnavailable = args[i + 1]; break;
        case "--nofile": nofile = args[i + 1]; break;
        case "--deny-ipv6": denyIPv6 = args[i + 1]; break;
        case "--urls": urls = args[i + 1]; break;
        case "--transport": transport = args[i + 1]; break;
        case "--self-request": selfRequest = args[i + 1]; break;
        case "--outbound-request": outboundRequest = args[i + 1]; break;
        case "--outbound-connect-timeout-ms": outboundConnectTimeoutMs = args[i + 1]; break;
        case "--outbound-compare-sockets": outboundCompareSockets = args[i + 1]; break;
        case "--fin-on-error": finOnError = args[i + 1]; break;
        case "--transport-log-level": transportLogLevel = args[i + 1]; break;
    }
}

int? denyErrno = deny switch
{
    "EPERM" => 1,
    "ENOSYS" => 38,
    "none" => null,
    _ => -1,
};
ulong softNofile = 0;
if (denyErrno == -1 || args.Length % 2 != 0
    || !Enum.TryParse(whenUnavailable, ignoreCase: false, out RingCoreUnavailableBehavior behavior)
    || !Enum.IsDefined(behavior)
    || (nofile is not null && (!ulong.TryParse(nofile, out softNofile) || softNofile == 0))
    || denyIPv6 is not ("EAFNOSUPPORT" or "none")
    || transport is not ("RingCore" or "Sockets")
    || (selfRequest is not null && !Uri.TryCreate(selfRequest, UriKind.Absolute, out _))
    || (outboundRequest is not null && outboundRequest != "self" && !Uri.TryCreate(outboundRequest, UriKind.Absolute, out _))
    || (outboundConnectTimeoutMs is not null && (!int.TryParse(outboundConnectTimeoutMs, out timeoutMs) || timeoutMs <= 0))
    || outboundCompareSockets is not ("on" or "off")
    || finOnError is not ("on" or "off")
    || transportLogLevel is not ("Information" or "Debug"))
{
    Console.Error.WriteLine("usage: RingCore.FallbackProbe --deny-io-uring <EPERM|ENOSYS|none> --when-unavailable <FallBackToSockets|Throw> " +
        "[--deny-ipv6 <EAFNOSUPPORT|none>] [--urls <urls>] [--transport <RingCore|Sockets>] [--self-request <url>] [--nofile <N>] " +
        "[--fin-on-error <on|off>] [--transport-log-level <Information|Debug>] [--outbound-request <self|url>] " +
        "[--outbound-connect-timeout-ms <N>] [--outbound-compare-sockets <on|off>]");
    return 2;
}

if (softNofile != 0)
{
    // Before the host starts: io_uring takes the limit in force when each accept is prepared.
    if (FdLimit.SetSoftLimit(softNofile) is string limitError)
    {
        Console.Error.WriteLine(limitError);
        return 2;
    }
}

bool denyIPv6Sockets = denyIPv6 == "EAFNOSUPPORT";
if (denyErrno is not null || denyIPv6Sockets)
{
    string? error = SeccompFilter.TryInstall(denyErrno, denyIPv6Sockets);
    if (error is not null)
    {
        Console.WriteLine($"SECCOMP FAILED: {error}");
        return 3;
    }
    if (denyErrno is not null)
    {
        Console.WriteLine($"SECCOMP io_uring_setup, io_uring_enter and io_uring_register now fail with {deny}");
    }
    if (denyIPv6Sockets)
    {
        Console.WriteLine("SECCOMP socket(AF_INET6, ...) now fails with EAFNOSUPPORT");
    }
}

if (finOnError == "on")
{
    // Before the host exists: Kestrel and RingCore read the switch once, when first needed.
    AppContext.SetSwitch("Microsoft.AspNetCore.Server.Kestrel.FinOnError", true);
}

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Information);
// Kestrel's general category logs its address-binding fallbacks at Debug; its sub-categories (connections,
// HTTP/2, bad requests...) stay at Information: the longer prefix wins.
builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Debug);
builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel.", LogLevel.Information);
builder.Logging.AddFilter("RingCore.Transport", Enum.Parse<LogLevel>(transportLogLevel));
builder.Logging.AddSimpleConsole(options =>
{
    options.SingleLine = true;
    options.ColorBehavior = LoggerColorBehavior.Disabled;
});
builder.WebHost.UseUrls(urls);
if (transport == "RingCore")
{
    builder.WebHost.UseRingCore(options =>
    {
        options.WhenUnavailable = behavior;
        options.RingThreadCount = 2;
    });
    builder.Services.AddRingCoreConnectionFactory();
}

var app = builder.Build();
app.MapGet("/", () => "fallback-probe");
app.MapGet("/abort", (HttpContext context) => context.Abort());

try
{
    await app.StartAsync();
}
catch (Exception ex)
{
    Console.WriteLine($"STARTUP FAILED: {ex.GetType().FullName}: {ex.Message}");
    try
    {
        await app.DisposeAsync(); // flushes the console logger
    }
    catch (Exception disposeError)
    {
        Console.WriteLine($"DISPOSE FAILED: {disposeError.GetType().FullName}: {disposeError.Message}");
    }
    return 4;
}

var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
Console.WriteLine($"LISTENING {addresses.First()}");
if (selfRequest is not null)
{
    Console.WriteLine($"SELF-REQUEST {await SelfRequest.GetAsync(new Uri(selfRequest))}");
}

if (outboundRequest is not null)
{
    await OutboundRequest.RunAsync(app.Services.GetRequiredService<RingCoreConnectionFactory>(),
        new Uri(outboundRequest == "self" ? addresses.First() : outboundRequest),
        outboundConnectTimeoutMs is null ? null : TimeSpan.FromMilliseconds(timeoutMs),
        outboundCompareSockets == "on");
}

while (Console.In.ReadLine() is string command)
{
    string[] words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (words is ["fill", var n] && int.TryParse(n, out int free) && free >= 0)
    {
        try
        {
            FdLimit.PrestartThreadPoolWorkers(16);
        }
        catch (TimeoutException ex)
        {
            Console.WriteLine($"FILL FAILED: {ex.Message}");
            continue;
        }
        var (soft, open, fillers, error) = FdLimit.LeaveFree(free);
        Console.WriteLine(error is null ? $"FILLED soft={soft} open={open} fillers={fillers} free={free}" : $"FILL FAILED: {error}");
    }
    else
    {
        Console.WriteLine($"UNKNOWN COMMAND: {command}");
    }
}

await app.StopAsync();
await app.DisposeAsync();
Console.WriteLine("STOPPED");
return 0;
