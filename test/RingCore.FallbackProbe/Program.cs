using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging.Console;
using RingCore.FallbackProbe;
using RingCore.Transport;

// Usage: RingCore.FallbackProbe --deny-io-uring <EPERM|ENOSYS|none> --when-unavailable <FallBackToSockets|Throw>
// Prints "LISTENING <url>" once serving, serves until its standard input is closed, then stops and exits 0.
// Exit codes: 2 bad arguments, 3 the seccomp filter could not be installed, 4 startup failed.

string? deny = null;
string? whenUnavailable = null;
for (int i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--deny-io-uring": deny = args[i + 1]; break;
        case "--when-unavailable": whenUnavailable = args[i + 1]; break;
    }
}

int? denyErrno = deny switch
{
    "EPERM" => 1,
    "ENOSYS" => 38,
    "none" => null,
    _ => -1,
};
if (denyErrno == -1 || args.Length % 2 != 0
    || !Enum.TryParse(whenUnavailable, ignoreCase: false, out RingCoreUnavailableBehavior behavior)
    || !Enum.IsDefined(behavior))
{
    Console.Error.WriteLine("usage: RingCore.FallbackProbe --deny-io-uring <EPERM|ENOSYS|none> --when-unavailable <FallBackToSockets|Throw>");
    return 2;
}

if (denyErrno is int errno)
{
    string? error = SeccompFilter.TryInstall(errno);
    if (error is not null)
    {
        Console.WriteLine($"SECCOMP FAILED: {error}");
        return 3;
    }
    Console.WriteLine($"SECCOMP io_uring_setup, io_uring_enter and io_uring_register now fail with {deny}");
}

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Information);
builder.Logging.AddSimpleConsole(options =>
{
    options.SingleLine = true;
    options.ColorBehavior = LoggerColorBehavior.Disabled;
});
builder.WebHost.UseUrls("http://127.0.0.1:0");
builder.WebHost.UseRingCore(options =>
{
    options.WhenUnavailable = behavior;
    options.RingThreadCount = 2;
});

var app = builder.Build();
app.MapGet("/", () => "fallback-probe");

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

Console.In.ReadToEnd();

await app.StopAsync();
await app.DisposeAsync();
Console.WriteLine("STOPPED");
return 0;
