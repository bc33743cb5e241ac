namespace RingCore.Transport.Connections;

/// <summary>
/// Kestrel's AppContext switch <c>Microsoft.AspNetCore.Server.Kestrel.FinOnError</c>: when on, a connection aborted
/// with a reason (a protocol error, HttpContext.Abort, a send error) is closed with FIN instead of RST, which avoids
/// truncating a response the client has not read yet at the cost of keeping abusive connections a little longer.
/// </summary>
/// <remarks>
/// Read once per process, as Kestrel reads it (static constructors of KestrelServerOptions and
/// SocketTransportOptions): Kestrel's HTTP layer decides with the same value whether to pass a reason to Abort, so
/// both layers must see one value for the life of the process. SocketTransportOptions.FinOnError is internal in
/// .NET 10, so a value set there cannot be read without reflection on Kestrel's internals; the switch is the
/// supported way in.
/// </remarks>
internal static class FinOnErrorSwitch
{
    public const string Name = "Microsoft.AspNetCore.Server.Kestrel.FinOnError";

    public static bool IsEnabled { get; } = AppContext.TryGetSwitch(Name, out bool enabled) && enabled;
}
